import ArgumentParser
import Loyalty
import PGClient
import SagaKitService

@main
struct LoyaltyServiceCommand: RootCommand {
    static let configuration = Loyalty.commandConfiguration(
        abstract: "Loyalty points for the order saga: awarded when a payment is captured, revoked when it is refunded.",
        discussion: "The example participant of docs/GUIDE.md. Awards on PaymentCaptured, revokes on PaymentRefunded.",
        commands: [PointsCommand.self]
    )
}

extension Loyalty: CommandLineParticipant {
    public typealias Options = LoyaltyOptions
}

/// `loyalty-service run`'s own flags, turned into `Loyalty.Configuration`.
public struct LoyaltyOptions: ParticipantOptions {
    public init() {}

    @Option(help: "Points per whole currency unit captured, 1 to 1000. [env: LOYALTY_POINTS_PER_UNIT] (default: 1)")
    var pointsPerUnit: Int?

    public func configuration() throws -> Loyalty.Configuration {
        guard let text = pointsPerUnit.map(String.init) ?? Environment.value("LOYALTY_POINTS_PER_UNIT") else {
            return Loyalty.Configuration()
        }
        guard let points = Int(text), (1...1000).contains(points) else {
            throw ValidationError("\(pointsPerUnit == nil ? "LOYALTY_POINTS_PER_UNIT" : "--points-per-unit") must be a whole number from 1 to 1000, not '\(text)'")
        }
        return Loyalty.Configuration(pointsPerUnit: points)
    }
}

/// `loyalty-service points`: what each order earned.
struct PointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "points", abstract: "List each order's points and whether they still stand.")

    @Option(help: "Only this order.") var orderID: String?
    @OptionGroup var report: ReportOptions<Loyalty>

    func run() async throws {
        try await report.print { try await LoyaltyAdmin.awards(orderID: orderID, on: $0) } text: { awards in
            Table(["ORDER", "POINTS", "STATUS"], awards.map { [$0.orderID, "\($0.points)", $0.status] }).rendered
        }
    }
}
