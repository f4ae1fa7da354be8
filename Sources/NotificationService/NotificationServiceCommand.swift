import ArgumentParser
import Notification
import PGClient
import SagaKit
import SagaKitService

@main
struct NotificationServiceCommand: RootCommand {
    static let configuration = Notification.commandConfiguration(
        abstract: "The order saga's Notification service: sends order confirmations.",
        discussion: "Records the order's address on OrderPlaced and sends the confirmation once PaymentCaptured arrives (in either order); a failure starts the compensations.",
        commands: [ConfirmationsCommand.self]
    )
}

struct ConfirmationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "confirmations", abstract: "Counts of sent and failed confirmations.")

    @OptionGroup var report: ReportOptions<Notification>

    func run() async throws {
        try await report.print(NotificationAdmin.counts) { counts in
            Table(["SENT", "FAILED", "AWAITING ORDER"], [["\(counts.sent)", "\(counts.failed)", "\(counts.awaitingOrder)"]]).rendered
        }
    }
}

extension Notification: CommandLineParticipant {
    public typealias Options = NotificationOptions
}

/// `notification-service run`'s own flags.
public struct NotificationOptions: ParticipantOptions {
    public init() {}

    @Option(help: "Folder the default sender writes one .eml file per confirmation into. [env: NOTIFICATION_SPOOL_DIR, SAGAKIT_SPOOL_DIR] (default: ./spool)")
    var spoolDir: String?

    @Option(help: "Delivery attempts for a transient sender error before the confirmation fails, 1 to 100; between two, the consumer rolls its transaction back and backs off (counted per process). (default: 4)")
    var senderAttempts: Int = 4

    @Option(help: "Make the sender fail this many times per message with a transient error (to exercise retries), 0 to 1000. [env: NOTIFICATION_SENDER_FAILURES] (default: 0)")
    var senderFailures: Int?

    @Option(help: "Fault option, for demos and tests only: fail the confirmation dispatch (no message sent; the compensations start) for the orders whose id matches one of these comma-separated globs ('*' matches any run), e.g. 'ORD-2002,*-failconfirm-*'. Unset, it changes nothing. [env: NOTIFICATION_FAIL_CONFIRMATIONS] (default: none)")
    var failConfirmations: String?

    public func configuration() throws -> Notification.Configuration {
        guard (1...100).contains(senderAttempts) else { throw ValidationError("--sender-attempts must be 1 to 100") }
        return Notification.Configuration(
            spoolDirectory: spoolDir ?? Environment.value("NOTIFICATION_SPOOL_DIR") ?? Environment.value("SAGAKIT_SPOOL_DIR") ?? "spool",
            senderAttempts: senderAttempts,
            senderFailures: try resolvedSenderFailures(),
            failConfirmations: try FaultMatcher.resolve(
                flag: failConfirmations, option: "--fail-confirmations", variable: "NOTIFICATION_FAIL_CONFIRMATIONS"))
    }

    /// The flag's value, else the variable's, else 0; a value that is not a count is a usage error, not ignored.
    private func resolvedSenderFailures() throws -> Int {
        let (value, source): (Int?, String)
        if let senderFailures {
            (value, source) = (senderFailures, "--sender-failures")
        } else if let text = Environment.value("NOTIFICATION_SENDER_FAILURES") {
            (value, source) = (Int(text), "NOTIFICATION_SENDER_FAILURES")
        } else {
            return 0
        }
        guard let value, (0...1000).contains(value) else { throw ValidationError("\(source) must be a whole number from 0 to 1000") }
        return value
    }
}
