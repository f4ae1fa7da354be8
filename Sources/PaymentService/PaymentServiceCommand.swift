import ArgumentParser
import Payment
import PGClient
import SagaKitService

@main
struct PaymentServiceMain {
    static func main() async {
        await CommandRunner.main(PaymentServiceCommand.self)
    }
}

struct PaymentServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment-service",
        abstract: "The order saga's Payment service: captures payments and refunds them on compensation.",
        discussion: "Captures or declines on InventoryReserved, refunds on ConfirmationFailed.",
        subcommands: [RunCommand<Payment>.self, MigrateCommand<Payment>.self, LedgerCommand.self, OutboxCommand<Payment>.self, ReplayCommand<Payment>.self]
    )
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ledger", abstract: "Totals: captured, refunded and declined payments.")

    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions<Payment>
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let db = try await PGConnection.connect(try database.config(), logger: logging.makeLogger(label: Payment.name))
        let totals = try await PaymentAdmin.totals(on: db)
        await db.close()
        if json {
            print(try JSONOutput.string(totals))
            return
        }
        print(Table(["", "COUNT", "AMOUNT (minor units)"], [
            ["captured", "\(totals.captured)", "\(totals.capturedCents)"],
            ["refunded", "\(totals.refunded)", "\(totals.refundedCents)"],
            ["declined", "\(totals.declined)", "-"],
        ]).rendered)
    }
}
