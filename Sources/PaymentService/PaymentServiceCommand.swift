import ArgumentParser
import OrderSaga
import Payment
import PGClient
import SagaKit
import SagaKitService

@main
struct PaymentServiceCommand: RootCommand {
    static let configuration = Payment.commandConfiguration(
        abstract: "The order saga's Payment service: captures payments and refunds them on compensation.",
        discussion: "Captures or declines on InventoryReserved, refunds on ConfirmationFailed (a refund that cannot apply is parked: 'compensations').",
        commands: [LedgerCommand.self]
    )
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ledger", abstract: "Totals: captured, refunded and declined payments.")

    @OptionGroup var report: ReportOptions<Payment>

    func run() async throws {
        try await report.print(PaymentAdmin.totals) { totals in
            Table(["", "COUNT", "AMOUNT (minor units)"], [
                ["captured", "\(totals.captured)", "\(totals.capturedCents)"],
                ["refunded", "\(totals.refunded)", "\(totals.refundedCents)"],
                ["declined", "\(totals.declined)", "-"],
            ]).rendered
        }
    }
}

extension Payment: CommandLineParticipant {
    public typealias Options = PaymentOptions
}

/// `payment-service run`'s own flags.
public struct PaymentOptions: ParticipantOptions {
    public init() {}

    @Option(help: "The largest amount Payment captures, e.g. 10000.00; larger orders are declined. [env: PAYMENT_MAX_AMOUNT] (default: 10000.00)",
            transform: Money.parse)
    var maxAmount: Money?

    @Option(help: "Fault option, for demos and tests only: decline the orders whose id matches one of these comma-separated globs ('*' matches any run), e.g. 'ORD-2003,*-decline-*', as a card declined. Unset, it changes nothing. [env: PAYMENT_DECLINE_ORDERS] (default: none)")
    var declineOrders: String?

    @Option(help: "Fault option, for demos and tests only: reject the refunds of the orders whose id matches one of these comma-separated globs, as a payment provider would, so the refund is parked for an operator ('compensations'). Unset, it changes nothing. [env: PAYMENT_FAIL_REFUNDS] (default: none)")
    var failRefunds: String?

    public func configuration() throws -> Payment.Configuration {
        let maxAmount: Money
        do {
            maxAmount = try self.maxAmount ?? Environment.value("PAYMENT_MAX_AMOUNT").map(Money.parse) ?? Payment.Configuration().maxAmount
        } catch {
            throw ValidationError("PAYMENT_MAX_AMOUNT: \(error)")
        }
        // Zero or less would decline every order: a typo a customer would see.
        guard maxAmount.cents > 0 else { throw ValidationError("--max-amount / PAYMENT_MAX_AMOUNT must be more than 0, not \(maxAmount)") }
        return Payment.Configuration(
            maxAmount: maxAmount,
            declineOrders: try FaultMatcher.resolve(flag: declineOrders, option: "--decline-orders", variable: "PAYMENT_DECLINE_ORDERS"),
            failRefunds: try FaultMatcher.resolve(flag: failRefunds, option: "--fail-refunds", variable: "PAYMENT_FAIL_REFUNDS"))
    }
}
