import ArgumentParser
import Notification
import PGClient
import SagaKitService

@main
struct NotificationServiceMain {
    static func main() async {
        await CommandRunner.main(NotificationServiceCommand.self)
    }
}

struct NotificationServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notification-service",
        abstract: "The order saga's Notification service: sends order confirmations.",
        discussion: "Records the order's address on OrderPlaced and sends the confirmation once PaymentCaptured arrives (in either order); a failure starts the compensations.",
        subcommands: [RunCommand<Notification>.self, MigrateCommand<Notification>.self, ConfirmationsCommand.self, OutboxCommand<Notification>.self, ReplayCommand<Notification>.self]
    )
}

struct ConfirmationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "confirmations", abstract: "Counts of sent and failed confirmations.")

    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions<Notification>
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let db = try await PGConnection.connect(try database.config(), logger: logging.makeLogger(label: Notification.name))
        let counts = try await NotificationAdmin.counts(on: db)
        await db.close()
        if json {
            print(try JSONOutput.string(counts))
            return
        }
        print(Table(["SENT", "FAILED", "AWAITING ORDER"], [["\(counts.sent)", "\(counts.failed)", "\(counts.awaitingOrder)"]]).rendered)
    }
}
