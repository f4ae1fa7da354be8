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

    @Option(help: "Delivery attempts for a transient sender error before the confirmation fails; between two, the consumer rolls its transaction back and backs off (counted per process). (default: 4)")
    var senderAttempts: Int = 4

    @Option(help: "Make the sender fail this many times per message with a transient error (to exercise retries). [env: NOTIFICATION_SENDER_FAILURES] (default: 0)")
    var senderFailures: Int?

    @Option(help: "Fault option, for demos and tests only: fail the confirmation dispatch (no message sent; the compensations start) for the orders whose id matches one of these comma-separated globs ('*' matches any run), e.g. 'ORD-2002,*-failconfirm-*'. Unset, it changes nothing. [env: NOTIFICATION_FAIL_CONFIRMATIONS] (default: none)")
    var failConfirmations: String?

    public func configuration() throws -> Notification.Configuration {
        guard senderAttempts >= 1 else { throw ValidationError("--sender-attempts must be at least 1") }
        return Notification.Configuration(
            spoolDirectory: spoolDir ?? Environment.value("NOTIFICATION_SPOOL_DIR") ?? Environment.value("SAGAKIT_SPOOL_DIR") ?? "spool",
            senderAttempts: senderAttempts,
            senderFailures: senderFailures ?? Environment.value("NOTIFICATION_SENDER_FAILURES").flatMap(Int.init) ?? 0,
            failConfirmations: try FaultMatcher.resolve(
                flag: failConfirmations, option: "--fail-confirmations", variable: "NOTIFICATION_FAIL_CONFIRMATIONS"))
    }
}
