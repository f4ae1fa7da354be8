import Foundation
import Synchronization

/// A real process started by a test (a service binary, kcat, python), with its output in a file the test can
/// search, and its exit awaited with a deadline.
///
/// Spawned with posix_spawn and reaped by a thread of its own: Foundation's `Process` on Linux waits for a
/// descriptor that every descendant inherits, so a child that starts a daemon (`pg_ctl start`) would never
/// appear to exit.
public final class ChildProcess: Sendable {
    public let label: String
    public let logFile: URL
    public let pid: Int32
    private let exit = Mutex<(status: Int32, signaled: Bool)?>(nil)

    private init(label: String, logFile: URL, pid: Int32) {
        self.label = label
        self.logFile = logFile
        self.pid = pid
    }

    /// Starts `executable` with the current environment plus `environment`, output to a log file.
    public static func start(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:], label: String? = nil,
        stdin: Data? = nil
    ) throws -> ChildProcess {
        let label = label ?? executable.lastPathComponent
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-test-\(label)-\(UUID().uuidString.prefix(6)).log")
        let logFD = open(logFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw TimedOut(description: "cannot create \(logFile.path)") }
        defer { close(logFD) }
        var input: [Int32] = [-1, -1]
        if stdin != nil {
            guard pipe(&input) == 0 else { throw TimedOut(description: "pipe failed") }
            // Other tests spawn processes concurrently: they must not inherit this pipe, or its reader never sees EOF.
            _ = fcntl(input[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(input[1], F_SETFD, FD_CLOEXEC)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdin != nil {
            posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Default signal handling and an empty mask, whatever the test runner has set.
        var signals = sigset_t()
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        // A free port each for the services' HTTP endpoints unless a test names one: tests run many at once.
        let environment = ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:0"].merging(ProcessInfo.processInfo.environment) { $1 }
            .merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let argv = [executable.path] + arguments
        let result = withCStrings(argv) { argvPointers in
            withCStrings(environment) { envPointers in
                posix_spawn(&pid, executable.path, &actions, &attributes, argvPointers, envPointers)
            }
        }
        if stdin != nil { close(input[0]) }
        guard result == 0 else {
            if stdin != nil { close(input[1]) }
            throw TimedOut(description: "cannot start \(executable.path): \(String(cString: strerror(result)))")
        }
        if let stdin {
            stdin.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(input[1], buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { break }
                    offset += written
                }
            }
            close(input[1])
        }
        let child = ChildProcess(label: label, logFile: logFile, pid: pid)
        let reaper = Thread { [child] in
            var status: Int32 = 0
            while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
            let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
            child.exit.withLock { $0 = signaled ? (status & 0x7f, true) : ((status >> 8) & 0xff, false) }
        }
        reaper.start()
        return child
    }

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

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
