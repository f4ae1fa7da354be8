import Foundation
import KafkaClient
import SagaKit
import SagaKitService
import Tracker

/// Every figure of a run, as text and as JSON.
struct Report: Encodable {
    struct Configuration: Encodable {
        var mode: String
        var rate: Double?
        var concurrency: Int?
        var durationSeconds: Double
        var warmupSeconds: Double
        var mix: String
        /// Products the orders spread over; 1 is the single hot stock row.
        var skus: Int
        var intakeConnections: Int
        /// Most starts one intake transaction carries (1: a transaction per start).
        var intakeBatch: Int
        var machine: [String: String]
        /// The stack settings in saga-bench's environment, which `infra/dev bench` gives the services too; secret
        /// Kafka properties are left out.
        var environment: [String: String]
    }

    struct Process: Encodable {
        var name: String
        /// Processes measured under this name.
        var count: Int
        var cpuSeconds: Double
        var cpuMsPerSaga: Double?
        var peakRssMib: Double
        var pssFirstMib: Double?
        var pssLastMib: Double?
        /// Least-squares slope of the proportional set size over the run: flat means no leak.
        var pssSlopeMibPerMinute: Double?
    }

    /// The intake's committed transactions over the measuring window: how much group commit happened.
    struct IntakeSummary: Encodable {
        var transactions: Int
        var starts: Int
        var startsPerTransaction: Double?
        /// The largest batch of the whole run, warm-up included.
        var largestBatch: Int

        init(start: BatchingIntake.Statistics, end: BatchingIntake.Statistics) {
            transactions = end.batches - start.batches
            starts = end.starts - start.starts
            startsPerTransaction = transactions > 0 ? round3(Double(starts) / Double(transactions)) : nil
            largestBatch = end.largestBatch
        }
    }

    /// The machine over the measuring window: is the run CPU-bound, and is the VM's host taking cycles?
    struct MachineCPUSummary: Encodable {
        var cpus: Int
        /// CPU time spent on anything, in cores (the busy fraction × the machine's cores).
        var busyCores: Double
        var busyFraction: Double
        var stealFraction: Double
        /// Busy cores the process table below does not account for: kernel threads, interrupts, other programs.
        var outsideListedProcessesCores: Double
    }

    /// The stack with no saga running, measured before the load: what it costs to sit there.
    struct Idle: Encodable {
        var seconds: Double
        /// CPU of the listed processes, the load generator left out, in cores.
        var stackCores: Double
        /// The whole machine's busy cores over the same seconds.
        var machineBusyCores: Double?
        var coresByProcess: [String: Double]

        static func measure(_ groups: [ProcessGroup], for duration: Duration) async throws -> Idle {
            let begin = ContinuousClock.now
            let cpuStart = ProcFS.snapshot(groups)
            let machineStart = MachineCPU.read()
            try await Task.sleep(until: begin + duration, clock: .continuous)
            let cpuEnd = ProcFS.snapshot(groups)
            let machineEnd = MachineCPU.read()
            let seconds = (ContinuousClock.now - begin).seconds
            let cores = cpuEnd.cpuSeconds(since: cpuStart).filter { $0.key != ProcFS.loadGeneratorName }.mapValues { round3($0 / seconds) }
            let machine = MachineCPU.between(machineStart, machineEnd).map { round3($0.busyCores) }
            return Idle(seconds: round3(seconds), stackCores: round3(cores.values.reduce(0, +)), machineBusyCores: machine, coresByProcess: cores)
        }
    }

    /// Sagas started in one minute of the window and their latency: how a long run drifts.
    struct MinuteLatency: Encodable {
        var minute: Int
        var latency: LatencySummary
    }

    var runID: String
    var configuration: Configuration
    var windowSeconds: Double
    var startedInWindow: Int
    var startRate: Double
    var completedInWindow: Int
    var finishedInWindow: Int
    /// Completed sagas per second over the measuring window: the throughput.
    var completedPerSecond: Double
    /// The longest a start took from its due time to the intake's response (open loop): grows when the intake falls
    /// behind.
    var maxIntakeLagMs: Double
    var intake: IntakeSummary
    /// Start commit → `completed` visible in the tracker's projection, for sagas started in the window.
    var latency: LatencySummary
    /// The same for every terminal state (compensated and failed included).
    var latencyAllTerminal: LatencySummary
    /// Every terminal state's latency by the minute of the window its saga started in.
    var latencyByMinute: [MinuteLatency]
    var statesOfStarted: [String: Int]
    var unfinished: Int
    var intakeFailures: [String]
    var hops: [HopSummary]
    var processes: [Process]
    var cpuMsPerSagaTotal: Double?
    var machineCpu: MachineCPUSummary?
    var rssSamples: [RSSSampler.Sample]
    var idle: Idle?
    var pgbench: PGBench.Result?
    var ratioToPgbenchTPS: Double?

    static func make(
        runID: String, configuration: Configuration, windowStart: Date, windowEnd: Date, started: Int, maxIntakeLagMs: Double,
        intake: IntakeSummary, failures: [String], results: RunResults, cpuStart: ProcessSnapshot, cpuEnd: ProcessSnapshot, machineStart: MachineCPU?, machineEnd: MachineCPU?, peaks: [String: Double],
        rssSamples: [RSSSampler.Sample], idle: Idle?, pgbench: PGBench.Result?
    ) -> Report {
        let window = windowEnd.timeIntervalSince(windowStart)
        let sagas = Array(results.sagas.values)
        let inWindow = { (date: Date?) -> Bool in date.map { $0 >= windowStart && $0 < windowEnd } ?? false }
        let completed = sagas.filter { $0.state == "completed" && inWindow($0.terminalAt) }.count
        let finished = sagas.filter { inWindow($0.terminalAt) }.count
        let startedInWindow = sagas.filter { inWindow($0.createdAt) }
        let completedLatencies = startedInWindow.compactMap { saga -> UInt64? in
            guard saga.state == "completed", let end = saga.terminalAt else { return nil }
            return micros(end.timeIntervalSince(saga.createdAt))
        }
        let allLatencies = startedInWindow.compactMap { saga in saga.terminalAt.map { micros($0.timeIntervalSince(saga.createdAt)) } }
        var byMinute: [Int: [UInt64]] = [:]
        for saga in startedInWindow {
            guard let end = saga.terminalAt else { continue }
            byMinute[Int(saga.createdAt.timeIntervalSince(windowStart) / 60), default: []].append(micros(end.timeIntervalSince(saga.createdAt)))
        }
        var states: [String: Int] = [:]
        for saga in sagas { states[saga.state ?? "not seen", default: 0] += 1 }
        let unfinished = sagas.filter { $0.terminalAt == nil }.count

        var processes: [Process] = []
        var totalCPU = 0.0
        var listedCPU = 0.0
        for (name, cpu) in cpuEnd.cpuSeconds(since: cpuStart).sorted(by: { $0.key < $1.key }) {
            listedCPU += cpu
            if name != ProcFS.loadGeneratorName { totalCPU += cpu }
            let series = rssSamples.compactMap { sample in sample.pssMib[name].map { (sample.atSeconds, $0) } }
            processes.append(Process(
                name: name, count: cpuEnd.processCount[name] ?? 0, cpuSeconds: round3(cpu), cpuMsPerSaga: finished > 0 ? round3(cpu * 1000 / Double(finished)) : nil,
                peakRssMib: round3(peaks[name] ?? 0), pssFirstMib: series.first.map { round3($0.1) }, pssLastMib: series.last.map { round3($0.1) },
                pssSlopeMibPerMinute: slope(series).map { round3($0 * 60) }))
        }
        let throughput = window > 0 ? Double(completed) / window : 0
        var machineCPU: MachineCPUSummary?
        if let used = MachineCPU.between(machineStart, machineEnd), window > 0 {
            machineCPU = MachineCPUSummary(
                cpus: MachineCPU.cpus, busyCores: round3(used.busyCores),
                busyFraction: round3(used.busyFraction), stealFraction: round3(used.stealFraction),
                outsideListedProcessesCores: round3(max(0, used.busyCores - listedCPU / window)))
        }
        return Report(
            runID: runID, configuration: configuration, windowSeconds: round3(window), startedInWindow: startedInWindow.count,
            startRate: window > 0 ? round3(Double(startedInWindow.count) / window) : 0, completedInWindow: completed,
            finishedInWindow: finished, completedPerSecond: round3(throughput), maxIntakeLagMs: round3(maxIntakeLagMs), intake: intake,
            latency: LatencySummary(micros: completedLatencies), latencyAllTerminal: LatencySummary(micros: allLatencies),
            latencyByMinute: byMinute.keys.sorted().map { MinuteLatency(minute: $0, latency: LatencySummary(micros: byMinute[$0]!)) },
            statesOfStarted: states, unfinished: unfinished, intakeFailures: failures, hops: results.hops, processes: processes,
            cpuMsPerSagaTotal: finished > 0 ? round3(totalCPU * 1000 / Double(finished)) : nil, machineCpu: machineCPU, rssSamples: rssSamples,
            idle: idle, pgbench: pgbench, ratioToPgbenchTPS: pgbench.map { round3(throughput / $0.tps) })
    }

    var text: String {
        var lines: [String] = []
        let c = configuration
        lines.append("saga-bench \(runID): \(c.mode) loop\(c.rate.map { " at \($0) sagas/s" } ?? "")\(c.concurrency.map { ", \($0) customers" } ?? ""), mix \(c.mix), \(c.skus) SKU(s), \(Int(c.durationSeconds)) s measured after \(Int(c.warmupSeconds)) s warm-up")
        lines.append("")
        let machine: String = machineCpu.map {
            String(format: "%.2f of %d cores (%.0f %%), steal %.1f %%; %.2f cores outside the processes below",
                   $0.busyCores, $0.cpus, $0.busyFraction * 100, $0.stealFraction * 100, $0.outsideListedProcessesCores)
        } ?? "-"
        let idleRows: [[String]] = idle.map { idle in
            let machine = idle.machineBusyCores.map { String(format: "%.3f", $0) } ?? "-"
            let each = idle.coresByProcess.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }
            return [["idle stack, before the load", String(format: "%.3f cores over %.0f s", idle.stackCores, idle.seconds) + " (machine \(machine)): " + each.joined(separator: ", ")]]
        } ?? []
        var pgbenchRows: [[String]] = []
        if let pgbench {
            let steal: String = pgbench.stealFraction.map { String(format: " (steal %.1f %%)", $0 * 100) } ?? ""
            pgbenchRows = [["pgbench -N tps", String(format: "%.0f", pgbench.tps) + steal],
                           ["ratio sagas/s ÷ tps", String(format: "%.3f", ratioToPgbenchTPS ?? 0)]]
        }
        lines.append(Table(["", "VALUE"], [
            ["completed sagas/s", String(format: "%.1f", completedPerSecond)],
            ["started in window", "\(startedInWindow) (\(String(format: "%.1f", startRate))/s, intake lag max \(String(format: "%.1f", maxIntakeLagMs)) ms)"],
            ["intake transactions", "\(intake.transactions) (\(intake.startsPerTransaction.map { String(format: "%.2f", $0) } ?? "-") starts each, at most \(configuration.intakeBatch); largest \(intake.largestBatch))"],
            ["completed in window", "\(completedInWindow) (all terminal: \(finishedInWindow))"],
            ["unfinished after settle", "\(unfinished)"],
            ["CPU per saga, whole stack", cpuMsPerSagaTotal.map { String(format: "%.2f ms", $0) } ?? "-"],
            ["machine CPU busy", machine],
        ] + idleRows + pgbenchRows).rendered)
        lines.append("")
        lines.append("start commit → completed visible in the tracker (ms)")
        lines.append(Table(["", "N", "P50", "P95", "P99", "MAX"], [
            ["completed", "\(latency.count)", f(latency.p50Ms), f(latency.p95Ms), f(latency.p99Ms), f(latency.maxMs)],
            ["any terminal", "\(latencyAllTerminal.count)", f(latencyAllTerminal.p50Ms), f(latencyAllTerminal.p95Ms), f(latencyAllTerminal.p99Ms), f(latencyAllTerminal.maxMs)],
        ]).rendered)
        if latencyByMinute.count > 1 {
            lines.append("")
            lines.append("any terminal, by the minute its saga started in (ms)")
            lines.append(Table(["MINUTE", "N", "P50", "P99", "MAX"], latencyByMinute.map { m in
                ["\(m.minute)", "\(m.latency.count)", f(m.latency.p50Ms), f(m.latency.p99Ms), f(m.latency.maxMs)]
            }).rendered)
        }
        lines.append("")
        lines.append("per hop (ms): outbox commit → broker ack → consumer transaction")
        lines.append(Table(["HOP", "COMMIT→ACK P50", "P99", "ACK→CONSUMER P50", "P99", "TOTAL P50", "P99"], hops.map { hop in
            ["\(hop.eventType) \(hop.from)→\(hop.to)", f(hop.commitToAck.p50Ms), f(hop.commitToAck.p99Ms), f(hop.ackToConsumer.p50Ms),
             f(hop.ackToConsumer.p99Ms), f(hop.commitToConsumer.p50Ms), f(hop.commitToConsumer.p99Ms)]
        }).rendered)
        lines.append("")
        lines.append("per hop by stage (ms, p50 / p99): commit → relay pick-up → broker ack; pick-up → consumer poll → inbox claim")
        lines.append(Table(["HOP", "COMMIT→PICK-UP", "PICK-UP→ACK", "PICK-UP→POLL", "POLL→CLAIM"], hops.map { hop in
            let s = hop.stages
            func pair(_ summary: LatencySummary) -> String { summary.count == 0 ? "-" : "\(f(summary.p50Ms)) / \(f(summary.p99Ms))" }
            return ["\(hop.eventType) \(hop.from)→\(hop.to)", pair(s.commitToPickup), pair(s.pickupToAck), pair(s.pickupToPoll), pair(s.pollToClaim)]
        }).rendered)
        lines.append("")
        lines.append("processes (CPU over the measuring window)")
        lines.append(Table(["PROCESS", "CPU S", "CPU MS/SAGA", "PEAK RSS MIB", "PSS FIRST→LAST", "PSS SLOPE MIB/MIN"], processes.map { p in
            [p.name, f(p.cpuSeconds), p.cpuMsPerSaga.map(f) ?? "-", f(p.peakRssMib),
             "\(p.pssFirstMib.map(f) ?? "-")→\(p.pssLastMib.map(f) ?? "-")", p.pssSlopeMibPerMinute.map(f) ?? "-"]
        }).rendered)
        if !intakeFailures.isEmpty {
            lines.append("")
            lines.append("intake failures (first ones): " + intakeFailures.joined(separator: "; "))
        }
        return lines.joined(separator: "\n")
    }

    static func stackEnvironment() -> [String: String] {
        var settings: [String: String] = [:]
        for name in ["SAGAKIT_PARTITIONS", "SAGAKIT_RELAY_LINGER_MS", "SAGAKIT_TOPIC_PREFIX", "SAGAKIT_LOG_LEVEL", "SAGAKIT_METRICS", "SAGAKIT_SERVICE_INSTANCES"] {
            if let value = Environment.value(name) { settings[name] = value }
        }
        for name in ["SAGAKIT_KAFKA_PROPERTIES", "SAGAKIT_KAFKA_PRODUCER_PROPERTIES", "SAGAKIT_KAFKA_CONSUMER_PROPERTIES"] {
            // Parsed as the services parse it (`\;` inside a value), so no tail of a secret passes for an entry.
            guard let value = Environment.value(name), let properties = try? KafkaConfiguration.parseProperties(value) else { continue }
            settings[name] = properties.filter { !KafkaConfiguration.isSecret($0.key) }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.replacingOccurrences(of: ";", with: "\\;"))" }.joined(separator: ";")
        }
        return settings
    }

    static func machine() -> [String: String] {
        var info: [String: String] = ["cpus": "\(ProcessInfo.processInfo.activeProcessorCount)",
                                      "memory_gib": String(format: "%.1f", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)]
        if let model = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first(where: { $0.hasPrefix("model name") })?.split(separator: ":").last {
            info["cpu"] = model.trimmingCharacters(in: .whitespaces)
        }
        info["kernel"] = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return info
    }
}

private func f(_ value: Double) -> String { String(format: "%.2f", value) }
/// Three decimal places: the precision every figure of the report is kept at.
func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

/// Least-squares slope of y over x.
private func slope(_ points: [(Double, Double)]) -> Double? {
    guard points.count >= 2 else { return nil }
    let n = Double(points.count)
    let meanX = points.reduce(0) { $0 + $1.0 } / n
    let meanY = points.reduce(0) { $0 + $1.1 } / n
    let sxx = points.reduce(0) { $0 + ($1.0 - meanX) * ($1.0 - meanX) }
    guard sxx > 0 else { return nil }
    return points.reduce(0) { $0 + ($1.0 - meanX) * ($1.1 - meanY) } / sxx
}
