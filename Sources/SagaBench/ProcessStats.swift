import Foundation
import SagaKit
import Synchronization

/// CPU time and memory of the processes that make up the stack, read from /proc.
struct ProcessGroup: Sendable {
    var name: String
    var pids: [Int32]
}

struct ProcessSnapshot: Sendable {
    /// CPU seconds (user + system) per group.
    var cpuSeconds: [String: Double]
    /// Memory in MiB per group: the sum of its processes' proportional set size (shared pages, such as
    /// PostgreSQL's shared buffers, split between the processes that map them, so a sum counts them once).
    var pssMib: [String: Double]
    /// How many processes each group has: one per service unless it was scaled out.
    var processCount: [String: Int]

    /// Each group's CPU seconds since `earlier`, never negative.
    func cpuSeconds(since earlier: ProcessSnapshot) -> [String: Double] {
        cpuSeconds.reduce(into: [:]) { result, entry in result[entry.key] = max(0, entry.value - (earlier.cpuSeconds[entry.key] ?? 0)) }
    }
}

enum ProcFS {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    /// saga-bench itself: shown, since it shares the machine, but not counted as the stack.
    static let loadGeneratorName = "saga-bench (load generator)"

    /// The stack's processes: the four services (found by their command lines) that use `topicPrefix`, PostgreSQL
    /// and the broker; and this one. The prefix keeps out another stack's services on the same machine (the test
    /// suite runs several side by side): they are not this stack's cost, and one exiting mid-run would make a
    /// group's CPU seconds go back.
    static func discover(topicPrefix: String) -> [ProcessGroup] {
        var groups: [String: [Int32]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let executable = arguments.first.map({ URL(fileURLWithPath: $0).lastPathComponent }) else { continue }
            let name: String?
            switch executable {
            case "inventory-service", "payment-service", "notification-service", "saga-tracker":
                name = arguments.contains("run") && self.topicPrefix(pid, arguments: arguments) == topicPrefix ? executable : nil
            case "postgres": name = "postgres"
            case "tansu": name = "broker (tansu)"
            default: name = arguments.first?.hasPrefix("postgres:") == true ? "postgres" : nil
            }
            if let name { groups[name, default: []].append(pid) }
        }
        groups[loadGeneratorName] = [getpid()]
        return groups.map { ProcessGroup(name: $0.key, pids: $0.value) }.sorted { $0.name < $1.name }
    }

    /// A service's topic prefix as it resolves it: `--topic-prefix`, else a non-empty SAGAKIT_TOPIC_PREFIX in its
    /// environment, else none. Nil when its environment cannot be read (another user's process).
    static func topicPrefix(_ pid: Int32, arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument == "--topic-prefix", index + 1 < arguments.count { return arguments[index + 1] }
            if argument.hasPrefix("--topic-prefix=") { return String(argument.dropFirst("--topic-prefix=".count)) }
        }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        let variable = data.split(separator: 0).lazy.map { String(decoding: $0, as: UTF8.self) }.first { $0.hasPrefix("SAGAKIT_TOPIC_PREFIX=") }
        return variable.map { String($0.dropFirst("SAGAKIT_TOPIC_PREFIX=".count)) } ?? ""
    }

    static func snapshot(_ groups: [ProcessGroup]) -> ProcessSnapshot {
        var cpu: [String: Double] = [:]
        var rss: [String: Double] = [:]
        for group in groups {
            var seconds = 0.0
            var kib = 0.0
            for pid in group.pids {
                seconds += cpuSeconds(pid) ?? 0
                kib += pss(pid) ?? statusField(pid, "VmRSS") ?? 0
            }
            cpu[group.name] = seconds
            rss[group.name] = kib / 1024
        }
        return ProcessSnapshot(cpuSeconds: cpu, pssMib: rss, processCount: Dictionary(uniqueKeysWithValues: groups.map { ($0.name, $0.pids.count) }))
    }

    /// The highest resident memory each process reached (VmHWM), summed per group, in MiB.
    static func peakRSS(_ groups: [ProcessGroup]) -> [String: Double] {
        var peak: [String: Double] = [:]
        for group in groups {
            peak[group.name] = group.pids.reduce(0.0) { $0 + (statusField($1, "VmHWM") ?? 0) } / 1024
        }
        return peak
    }

    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }

    /// Proportional set size in kB, from /proc/<pid>/smaps_rollup.
    static func pss(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Pss:") {
            return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// A `kB` field of /proc/<pid>/status.
    static func statusField(_ pid: Int32, _ field: String) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}

/// The whole machine's CPU time from /proc/stat's first line, all CPUs together: whether a run was CPU-bound,
/// and how much went to what the process table does not list (kernel threads, interrupts, other programs).
struct MachineCPU: Sendable {
    var busySeconds: Double
    var idleSeconds: Double
    /// Time the hypervisor ran something else while this VM wanted the CPU: a noisy neighbour, not the stack.
    var stealSeconds: Double

    /// Fields of the `cpu` line, in clock ticks: user nice system idle iowait irq softirq steal [guest guest_nice].
    /// Guest time is already counted in user and nice; iowait is idle time with I/O outstanding.
    init?(procStatLine line: Substring, ticksPerSecond: Double) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.first == "cpu", fields.count >= 9 else { return nil }
        let ticks = fields.dropFirst().prefix(8).compactMap { Double($0) }
        guard ticks.count == 8, ticksPerSecond > 0 else { return nil }
        busySeconds = (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / ticksPerSecond
        idleSeconds = (ticks[3] + ticks[4]) / ticksPerSecond
        stealSeconds = ticks[7] / ticksPerSecond
    }

    static let cpus = ProcessInfo.processInfo.activeProcessorCount

    /// What happened between two readings: busy CPU seconds, the busy and steal fractions of all CPU time, and busy
    /// cores. Cores come from the busy fraction, not busy seconds over a wall-clock window: on a loaded machine the
    /// readings can lie further apart than the window's ends, and busy seconds over the window then came out above
    /// the machine's cores.
    static func between(_ start: MachineCPU?, _ end: MachineCPU?) -> (busySeconds: Double, busyFraction: Double, stealFraction: Double, busyCores: Double)? {
        guard let start, let end else { return nil }
        let busy = max(0, end.busySeconds - start.busySeconds)
        let steal = max(0, end.stealSeconds - start.stealSeconds)
        let all = busy + steal + max(0, end.idleSeconds - start.idleSeconds)
        guard all > 0 else { return nil }
        return (busy, busy / all, steal / all, busy / all * Double(cpus))
    }

    static func read() -> MachineCPU? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first else { return nil }
        return MachineCPU(procStatLine: line, ticksPerSecond: ProcFS.ticksPerSecond)
    }
}

/// Samples resident memory, and the CPU used so far, at an interval while the run goes on.
final class RSSSampler: Sendable {
    struct Sample: Encodable, Sendable {
        var atSeconds: Double
        var pssMib: [String: Double]
        /// CPU seconds used since each group's start: the difference between two samples is its CPU between them.
        var cpuSeconds: [String: Double]
    }

    private let samples = Mutex<[Sample]>([])

    func run(groups: [ProcessGroup], every interval: Duration, begin: ContinuousClock.Instant) async {
        while !Task.isCancelled {
            let snapshot = ProcFS.snapshot(groups)
            samples.withLock { $0.append(Sample(atSeconds: (ContinuousClock.now - begin).seconds, pssMib: snapshot.pssMib, cpuSeconds: snapshot.cpuSeconds.mapValues(round3))) }
            try? await Task.sleep(for: interval)
        }
    }

    var all: [Sample] { samples.withLock { $0 } }
}
