import ArgumentParser
import Console
import SagaKit
import SagaKitService

/// `saga-tracker run`'s and `serve`'s own flags: who the console answers.
public struct TrackerOptions: ParticipantOptions {
    public init() {}

    @Option(help: "Host names the console answers for besides localhost and IP addresses, comma-separated; '.example.com' admits every name under it, '*' any (DNS rebinding: a page elsewhere must not read the console through a name it controls). [env: SAGAKIT_CONSOLE_ALLOWED_HOSTS] (default: none)")
    var consoleAllowedHosts: String?

    public func configuration() throws -> NoConfiguration {
        _ = try consoleHosts()
        return NoConfiguration()
    }

    /// The console's host list; a bad one is a usage error (exit 2) naming where it came from.
    func consoleHosts() throws -> ConsoleHosts {
        let (text, source) = consoleAllowedHosts.map { ($0, "--console-allowed-hosts") }
            ?? (Environment.value("SAGAKIT_CONSOLE_ALLOWED_HOSTS") ?? "", "SAGAKIT_CONSOLE_ALLOWED_HOSTS")
        do {
            return try ConsoleHosts.parse(text)
        } catch {
            throw ValidationError("\(source): \(error)")
        }
    }
}
