import Foundation

/// Runs `pgbench -N` against the same PostgreSQL, so results compare across machines: what a saga costs relative
/// to the durable commits this machine can do.
enum PGBench {
    struct Result: Encodable, Sendable {
        var clients: Int
        var seconds: Int
        var scale: Int
        var tps: Double
        /// The machine's busy and steal fractions while it ran: a ratio from a run whose pgbench lost a third of
        /// the CPU to the hypervisor is not a ratio from this machine.
        var busyFraction: Double?
        var stealFraction: Double?
    }

    /// `url` must let the role create tables (a scratch database owned by it). Call it on a thread of its own:
    /// it blocks, and it changes that thread's signal mask.
    static func run(url: String, clients: Int = 8, seconds: Int = 20, scale: Int = 10) throws -> Result {
        let binary = ["/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "pgbench"
        // The password goes through the environment, not the command line, where `ps` would show it.
        var environment = ProcessInfo.processInfo.environment
        var components = URLComponents(string: url)
        if let password = components?.password {
            environment["PGPASSWORD"] = password
            components?.password = nil
        }
        let target = components?.string ?? url
        // pgbench -T ends when SIGALRM arrives. A child inherits the signal mask of the thread that spawns it, and
        // a thread started from the Swift runtime's pool has SIGALRM blocked: pgbench would never stop.
        var alarm = sigset_t()
        sigemptyset(&alarm)
        sigaddset(&alarm, SIGALRM)
        pthread_sigmask(SIG_UNBLOCK, &alarm, nil)
        _ = try shell(binary, ["-i", "-q", "-s", "\(scale)", target], environment: environment)
        let before = MachineCPU.read()
        let output = try shell(binary, ["-N", "-c", "\(clients)", "-j", "2", "-T", "\(seconds)", target], environment: environment)
        let used = MachineCPU.between(before, MachineCPU.read())
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let value = Double(line.dropFirst(6).split(separator: " ").first ?? "") else {
            throw BenchError("pgbench printed no tps:\n\(output)")
        }
        return Result(clients: clients, seconds: seconds, scale: scale, tps: value,
                      busyFraction: used.map { round3($0.busyFraction) },
                      stealFraction: used.map { round3($0.stealFraction) })
    }

    private static func shell(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw BenchError("pgbench \(arguments.first ?? "") failed:\n\(text)") }
        return text
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
