import ArgumentParser
import Console
import Foundation
import SagaKit
import SagaKitService
import Tracker

/// `saga-tracker run`'s and `serve`'s own flags: who the console answers.
public struct TrackerOptions: ParticipantOptions {
    public init() {}

    @Option(help: "Host names the console answers for besides localhost and IP addresses, comma-separated; '.example.com' admits every name under it, '*' any (DNS rebinding: a page elsewhere must not read the console through a name it controls). [env: SAGAKIT_CONSOLE_ALLOWED_HOSTS] (default: none)")
    var consoleAllowedHosts: String?

    @Option(help: "`run` only: hours finished sagas (completed, compensated, failed) stay in the view with their events after the tracker saw them finish, and dead letters after it recorded them, 1 to 876000; 'off' keeps everything. A compensation_failed saga stays until resolved; orders stay, so an order id is never reused. [env: SAGAKIT_PROJECTION_RETENTION_HOURS] (default: 720, 30 days)")
    var projectionRetentionHours: String?

    public func configuration() throws -> Tracker.Configuration {
        _ = try consoleHosts()
        return Tracker.Configuration(projectionRetention: try projectionRetention())
    }

    /// The flag's value, else the variable's, else 30 days; nil for `off`.
    func projectionRetention() throws -> Duration? {
        let (text, source) = projectionRetentionHours.map { ($0, "--projection-retention-hours") }
            ?? (Environment.value("SAGAKIT_PROJECTION_RETENTION_HOURS") ?? "", "SAGAKIT_PROJECTION_RETENTION_HOURS")
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return Tracker.Configuration.defaultProjectionRetention }
        if trimmed.lowercased() == "off" { return nil }
        guard let hours = Int(trimmed), (1...876_000).contains(hours) else {
            throw ValidationError("\(source) must be 'off' or a whole number of hours from 1 to 876000")
        }
        return .seconds(hours * 3600)
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
