import Foundation
import Synchronization

/// A real process started by a test (a service binary, kcat, python), with its output in a file the test can
/// search, and its exit awaited with a deadline.
///
/// @unchecked Sendable: `Process` is not Sendable; this wrapper only starts it once in `start` and afterwards
/// reads its pid and sends signals, which are safe from any thread.
public final class ChildProcess: @unchecked Sendable {
    public let label: String
    public let logFile: URL
    private let process: Process
    private let exit = Mutex<(status: Int32, signaled: Bool)?>(nil)

    private init(label: String, logFile: URL, process: Process) {
        self.label = label
        self.logFile = logFile
        self.process = process
    }

    /// Starts `executable` with the current environment plus `environment`, output to a log file.
    public static func start(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], label: String? = nil,
        stdin: Data? = nil
    ) throws -> ChildProcess {
        let label = label ?? executable.lastPathComponent
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-test-\(label)-\(UUID().uuidString.prefix(6)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        var input: Pipe?
        if stdin != nil {
            input = Pipe()
            process.standardInput = input
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let child = ChildProcess(label: label, logFile: logFile, process: process)
        process.terminationHandler = { [child] process in
            child.exit.withLock { $0 = (process.terminationStatus, process.terminationReason == .uncaughtSignal) }
        }
        try process.run()
        try? handle.close()
        if let stdin, let input {
            input.fileHandleForWriting.write(stdin)
            try? input.fileHandleForWriting.close()
        }
        return child
    }

    public var pid: Int32 { process.processIdentifier }

    public var isRunning: Bool { exit.withLock { $0 == nil } }

    /// Everything the process wrote so far.
    public var output: String {
        (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
    }

    public func tail(_ lines: Int = 40) -> String {
        output.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Waits until the output contains `text`; fails early if the process exits first.
    public func waitForOutput(_ text: String, timeout: Duration = .seconds(30)) async throws {
        try await waitUntil("\(label) to print '\(text)'", timeout: timeout) {
            if output.contains(text) { return true }
            if !isRunning {
                throw TimedOut(description: "\(label) exited before printing '\(text)':\n\(tail())")
            }
            return false
        }
    }

    public func occurrences(of text: String) -> Int {
        output.components(separatedBy: text).count - 1
    }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// SIGTERM, the graceful stop.
    public func terminate() { signal(SIGTERM) }

    /// SIGKILL: no cleanup at all.
    public func kill9() { signal(SIGKILL) }

    /// The exit status, or the signal number when `signaled`.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> (status: Int32, signaled: Bool) {
        try await eventually("\(label) to exit", timeout: timeout, every: .milliseconds(50)) { exit.withLock { $0 } }
    }

    /// Kills the process if it still runs; for test cleanup.
    public func stop() async {
        guard isRunning else { return }
        kill9()
        _ = try? await waitForExit(timeout: .seconds(10))
    }

    /// Runs a command to completion and returns its output; throws on a non-zero exit.
    @discardableResult
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil, timeout: Duration = .seconds(60)) async throws -> String {
        let child = try start(executable, arguments, environment: environment, stdin: stdin)
        let result = try await child.waitForExit(timeout: timeout)
        guard result.status == 0, !result.signaled else {
            throw TimedOut(description: "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) failed (\(result.status)):\n\(child.tail())")
        }
        return child.output
    }
}
