import ArgumentParser
import Foundation
import Inventory
import Logging
import PGClient
import SagaKit
import SagaKitService
import Tracker

@main
struct SagaBenchCommand: RootCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga-bench",
        abstract: "Drive order sagas through the running services and measure them end to end.",
        discussion: """
            Starts sagas through the tracker's intake (the same statement and outbox as `saga-tracker start`; starts \
            that arrive while every intake connection is busy share the next transaction, up to --intake-batch), \
            open loop at --rate sagas/s or closed loop at --concurrency, for --duration after a --warmup. Measures, \
            per saga, its start commit to `completed` visible in the tracker's projection; throughput; per hop, \
            outbox commit to broker acknowledgement to the consumer's transaction; CPU seconds per saga and memory \
            of every process of the stack. The four services must be running (`infra/dev bench` does all of it). \
            Reads the databases named by INVENTORY_/PAYMENT_/NOTIFICATION_/TRACKER_DATABASE_URL.
            """
    )

    @Option(help: "Open loop: start this many sagas per second, whatever the system does.") var rate: Double?
    @Option(help: "Closed loop: this many customers, each starting a saga and waiting for it to finish.") var concurrency: Int?
    @Option(help: "How long to measure, e.g. 60s.") var duration = DurationArgument(argument: "60s")!
    @Option(help: "Load before measuring starts, e.g. 5s.") var warmup = DurationArgument(argument: "5s")!
    @Option(help: "Scenarios: happy, all (a quarter each), or weights such as happy=70,confirmation=10,payment=10,stock=10. A declined payment's order id contains '-decline-' and a failed confirmation's '-failconfirm-': they fail only if Payment and Notification run with the fault options PAYMENT_DECLINE_ORDERS='*-decline-*' and NOTIFICATION_FAIL_CONFIRMATIONS='*-failconfirm-*' (infra/dev bench sets them). (default: happy)")
    var mix: String = "happy"
    @Option(help: "Connections the intake uses: transactions starting sagas at once. (default: 4)") var connections: Int = 4
    @Option(help: "Most starts one intake transaction carries; starts that arrive while every connection is busy share the next. 1 is a transaction per start. (default: 100)")
    var intakeBatch: Int = 100
    @Option(help: "Products the orders spread over, round robin; 1 puts every reservation on one stock row, the worst case. (default: 1)")
    var skus: Int = 1
    @Option(help: "How long to wait, after the load stops, for started sagas to finish.") var settle = DurationArgument(argument: "60s")!
    @Option(help: "Before any load, measure the idle stack's CPU for this long, e.g. 20s; 0s skips it.") var idle = DurationArgument(argument: "0s")!
    @Option(help: "Seconds between memory samples; each reads every process's smaps_rollup, which is not free. (default: 10)") var rssInterval: Int = 10
    @Flag(help: "Also run pgbench -N (8 clients, 20 s) against the same PostgreSQL and report the ratio to its TPS.") var withPgbench = false
    @Option(help: "Write every figure and the configuration to this file as JSON.") var jsonOut: String?
    /// For the test suite's smoke run; the comparison across machines wants the standard 20 s.
    @Option(help: .hidden) var pgbenchSeconds: Int = 20
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (rate != nil) != (concurrency != nil) else { throw ValidationError("give exactly one of --rate and --concurrency") }
        // Upper bounds: far beyond what any machine sustains, low enough that start counts and sleeps cannot overflow.
        if let rate, !(rate > 0 && rate <= 1_000_000) { throw ValidationError("--rate must be more than 0 and at most 1000000") }
        if let concurrency, !(1...100_000).contains(concurrency) { throw ValidationError("--concurrency must be 1 to 100000") }
        guard (1...1000).contains(connections) else { throw ValidationError("--connections must be 1 to 1000") }
        guard (1...100_000).contains(intakeBatch) else { throw ValidationError("--intake-batch must be 1 to 100000") }
        guard (1...10_000_000).contains(skus) else { throw ValidationError("--skus must be 1 to 10000000") }
        guard (1...3600).contains(rssInterval) else { throw ValidationError("--rss-interval must be 1 to 3600 seconds") }
        guard (1...3600).contains(pgbenchSeconds) else { throw ValidationError("--pgbench-seconds must be 1 to 3600") }
        guard ScenarioMix(parsing: mix) != nil else { throw ValidationError("--mix: happy, all, or name=weight,... over happy, confirmation, payment, stock") }
    }

    func run() async throws {
        let logger = logging.makeLogger(label: "saga-bench")
        let (measured, warm, settleTime, idleTime) = (duration.duration, warmup.duration, settle.duration, idle.duration)
        var databases: [String: PGConnection] = [:]
        for service in ["inventory", "payment", "notification", "tracker"] {
            guard let url = Environment.value("\(service.uppercased())_DATABASE_URL") else {
                throw ValidationError("set \(service.uppercased())_DATABASE_URL (eval \"$(infra/dev env)\")")
            }
            databases[service] = try await PGConnection.connect(PGConfig(url, applicationName: "saga-bench"), logger: logger)
        }
        let tracker = databases["tracker"]!
        let runID = "bench-\(UUID().uuidString.prefix(8).lowercased())"
        let generator = LoadGenerator(runID: runID, skus: LoadGenerator.skuNames(count: skus), mix: ScenarioMix(parsing: mix)!, topics: kafka.topics)
        for sku in generator.skus {
            try await StockAdmin.set(sku: sku, available: 100_000_000, on: databases["inventory"]!)
        }

        var intake: [PGConnection] = []
        for _ in 0..<connections {
            intake.append(try await PGConnection.connect(PGConfig(Environment.value("TRACKER_DATABASE_URL")!, applicationName: "saga-bench-intake"), logger: logger))
        }
        let groups = ProcFS.discover(topicPrefix: kafka.topics.prefix)
        let missing = ["inventory-service", "payment-service", "notification-service", "saga-tracker"].filter { name in !groups.contains { $0.name == name } }
        if !missing.isEmpty {
            FileHandle.standardError.write(Data("saga-bench: warning: not running here: \(missing.joined(separator: ", ")); their CPU and memory are not measured\n".utf8))
        }
        var idleCost: Report.Idle?
        if idleTime > .zero {
            progress("measuring the idle stack for \(idle)")
            idleCost = try await Report.Idle.measure(groups, for: idleTime)
        }
        let watcher = CompletionWatcher(db: try await PGConnection.connect(PGConfig(Environment.value("TRACKER_DATABASE_URL")!, applicationName: "saga-bench-watch"), logger: logger))

        progress("run \(runID): \(rate.map { "open loop at \($0) sagas/s" } ?? "closed loop, \(concurrency!) customers"), warm-up \(warmup), measuring \(duration), mix \(mix), \(skus) SKU(s)")
        let begin = ContinuousClock.now
        let sampler = RSSSampler()
        let interval = Duration.seconds(rssInterval)
        let sampling = Task { await sampler.run(groups: groups, every: interval, begin: begin) }
        let rate = self.rate
        let concurrency = self.concurrency ?? 1
        let batching = BatchingIntake(connections: intake, topics: kafka.topics, maxBatch: intakeBatch)
        let load = Task { () -> Duration in
            if let rate {
                return await generator.openLoop(rate: rate, duration: warm + measured, intake: batching)
            }
            await generator.closedLoop(concurrency: concurrency, duration: warm + measured, intake: batching, watcher: watcher)
            return .zero
        }
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                if Task.isCancelled { break }
                let done: Int = (try? await tracker.query(
                    "SELECT count(*) AS n FROM sagas WHERE saga_id LIKE \(runID + "-%") AND finished_at IS NOT NULL")[0].decode("n")) ?? 0
                progress(String(format: "%5.0fs: %d started, %d finished", (ContinuousClock.now - begin).seconds, generator.startedCount, done))
            }
        }
        try await Task.sleep(until: begin + warm, clock: .continuous)
        let windowStart: Date = try await tracker.query("SELECT clock_timestamp() AS t")[0].decode("t")
        let cpuStart = ProcFS.snapshot(groups)
        let machineStart = MachineCPU.read()
        let intakeStart = await batching.statistics
        try await Task.sleep(until: begin + warm + measured, clock: .continuous)
        let windowEnd: Date = try await tracker.query("SELECT clock_timestamp() AS t")[0].decode("t")
        let cpuEnd = ProcFS.snapshot(groups)
        let machineEnd = MachineCPU.read()
        let intakeEnd = await batching.statistics
        let lag = await load.value

        // Let what was started finish, then read the results from the databases.
        let started = generator.startedCount
        let settleDeadline = ContinuousClock.now + settleTime
        while ContinuousClock.now < settleDeadline {
            let open: Int = try await tracker.query("""
                SELECT count(*) AS n FROM orders o LEFT JOIN sagas s ON s.saga_id = o.order_id
                WHERE o.order_id LIKE \(runID + "-%") AND s.finished_at IS NULL
                """)[0].decode("n")
            if open == 0 { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        reporter.cancel()
        sampling.cancel()
        let peaks = ProcFS.peakRSS(groups)
        progress("reading the results from the databases")
        let results = try await RunResults.read(runID: runID, databases: databases)

        var pgbench: PGBench.Result?
        if withPgbench {
            progress("running pgbench -N (8 clients, \(pgbenchSeconds) s)")
            pgbench = try await runPGBench(database: "sagakit_pgbench_" + runID.replacingOccurrences(of: "-", with: "_"), logger: logger)
        }
        for db in databases.values { await db.close() }
        for db in intake { await db.close() }

        let report = Report.make(
            runID: runID, configuration: Report.Configuration(
                mode: rate == nil ? "closed" : "open", rate: rate, concurrency: self.concurrency, durationSeconds: measured.seconds,
                warmupSeconds: warm.seconds, mix: mix, skus: skus, intakeConnections: self.connections, intakeBatch: intakeBatch,
                machine: Report.machine(),
                environment: Report.stackEnvironment()),
            windowStart: windowStart, windowEnd: windowEnd, started: started, maxIntakeLagMs: lag.seconds * 1000,
            intake: Report.IntakeSummary(start: intakeStart, end: intakeEnd),
            failures: generator.failureMessages, results: results, cpuStart: cpuStart, cpuEnd: cpuEnd, machineStart: machineStart, machineEnd: machineEnd, peaks: peaks,
            rssSamples: sampler.all, idle: idleCost, pgbench: pgbench)
        print(report.text)
        if let jsonOut {
            try Data(try JSONOutput.string(report).utf8).write(to: URL(fileURLWithPath: jsonOut))
            progress("wrote \(jsonOut)")
        }
    }


    /// pgbench in a scratch database of the admin role, run on a thread of its own (it blocks).
    private func runPGBench(database: String, logger: Logger) async throws -> PGBench.Result {
        guard let adminURL = Environment.value("SAGAKIT_ADMIN_DATABASE_URL"), var components = URLComponents(string: adminURL) else {
            throw ValidationError("--with-pgbench needs SAGAKIT_ADMIN_DATABASE_URL (a role that may create a database)")
        }
        let admin = try await PGConnection.connect(PGConfig(adminURL), logger: logger)
        // No FORCE: nothing of ours is connected, and FORCE refuses (42501) while an autovacuum worker is in the
        // database, which a plain DROP stops by itself.
        try await admin.execute("DROP DATABASE IF EXISTS \(database)")
        try await admin.execute("CREATE DATABASE \(database)")
        components.path = "/" + database
        let url = components.string!
        let seconds = pgbenchSeconds
        let result: Result<PGBench.Result, any Error> = await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: Result { try PGBench.run(url: url, seconds: seconds) }) }
            thread.start()
        }
        try await admin.execute("DROP DATABASE IF EXISTS \(database)")
        await admin.close()
        return try result.get()
    }
}

func progress(_ line: String) {
    FileHandle.standardError.write(Data("saga-bench: \(line)\n".utf8))
}
