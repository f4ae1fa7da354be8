import Foundation

/// Runs `pgbench -N` against the same PostgreSQL, so results compare across machines: what a saga costs relative
/// to the durable commits this machine can do.
enum PGBench {
    struct Result: Encodable, Sendable {
        var clients: Int
        var seconds: Int
        var scale: Int
        var tps: Double
    }

    /// `url` must let the role create tables (a scratch database owned by it).
    static func run(url: String, clients: Int = 8, seconds: Int = 20, scale: Int = 10) throws -> Result {
        let binary = ["/usr/lib/postgresql/15/bin/pgbench", "/usr/bin/pgbench"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "pgbench"
        _ = try shell(binary, ["-i", "-q", "-s", "\(scale)", url])
        let output = try shell(binary, ["-N", "-c", "\(clients)", "-j", "2", "-T", "\(seconds)", url])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let value = Double(line.dropFirst(6).split(separator: " ").first ?? "") else {
            throw BenchError("pgbench printed no tps:\n\(output)")
        }
        return Result(clients: clients, seconds: seconds, scale: scale, tps: value)
    }

    private static func shell(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
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
