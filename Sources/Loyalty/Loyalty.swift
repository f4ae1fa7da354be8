import Foundation
import OrderSaga
import PGClient
import SagaKit

/// The Loyalty service, the example of docs/GUIDE.md: it joins the order saga from outside, awarding points when a
/// payment is captured and taking them back, as its compensation, when the payment is refunded.
public enum Loyalty: SagaParticipant {
    public static let name = "loyalty"
    public static let databaseURLVariable = "LOYALTY_DATABASE_URL"
    /// Every event type on the topics it reads, not only those it handles (a type the registry does not know is
    /// dead-lettered), and its own.
    public static let registry: EventRegistry = {
        var registry = OrderSagaEvents.registry
        registry.register(LoyaltyPointsAwarded.self)
        registry.register(LoyaltyPointsRevoked.self)
        return registry
    }()

    /// What Loyalty's rule depends on.
    public struct Configuration: Sendable {
        /// Points per whole currency unit captured (per 100 minor units).
        public var pointsPerUnit: Int

        public init(pointsPerUnit: Int = 1) {
            self.pointsPerUnit = pointsPerUnit
        }

        /// The rule: whole units only, so 59.99 earns 59 points at one point per unit. Saturates rather than traps.
        public func points(forAmountCents amountCents: Int64) -> Int64 {
            let (points, overflow) = max(amountCents / 100, 0).multipliedReportingOverflow(by: Int64(pointsPerUnit))
            return overflow ? .max : points
        }
    }

    public static func migrators() throws -> [PGMigrator] {
        [try PGMigrator.load(component: name, bundle: .module)]
    }

    public static func consumers(_ context: ParticipantContext<Configuration>) throws -> [ConsumerDefinition] {
        let rule = context.configuration
        var handlers = EventHandlers()
        handlers.onBatch(PaymentCaptured.self) { events, contexts, db in try award(events, rule: rule, &contexts, db) }
        handlers.on(PaymentRefunded.self, revoke)
        return [ConsumerDefinition(name: "saga", topics: [OrderSagaTopics.payment], handlers: handlers)]
    }

    /// `PaymentCaptured`: award the order's points, once. A run of captures is one statement; the key decides which
    /// are new, so a capture already seen (redelivered under a new event id, say) awards nothing.
    static func award(_ events: [PaymentCaptured], rule: Configuration, _ contexts: inout [EventContext], _ db: isolated PGConnection) throws {
        let points = events.map { rule.points(forAmountCents: $0.amountCents) }
        var inserted = Set(try db.query("""
            INSERT INTO awards (order_id, charge_id, points, status, awarded_at)
            SELECT order_id, charge_id, points, 'awarded', now()
            FROM unnest(\(events.map(\.orderID))::text[], \(events.map(\.chargeID))::text[], \(points)::bigint[])
                 AS a(order_id, charge_id, points)
            ON CONFLICT (order_id) DO NOTHING
            RETURNING order_id
            """).map { try $0.decode("order_id", as: String.self) })
        for (index, event) in events.enumerated() {
            guard inserted.remove(event.orderID) != nil else {
                contexts[index].outcome = "already decided"
                continue
            }
            try contexts[index].emit(LoyaltyPointsAwarded(orderID: event.orderID, chargeID: event.chargeID, points: points[index]))
            contexts[index].outcome = "awarded"
        }
    }

    /// The compensation, on `PaymentRefunded`: take the points back, once. Only an award still standing is revoked,
    /// so a repeated refund changes nothing; a refund that comes first leaves a revoked row, so a late capture
    /// awards nothing.
    static func revoke(_ event: PaymentRefunded, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let rows = try db.query("SELECT points, status FROM awards WHERE order_id = \(event.orderID) FOR UPDATE")
        guard let row = rows.first else {
            db.queue("""
                INSERT INTO awards (order_id, charge_id, points, status, revoked_at)
                VALUES (\(event.orderID), \(event.chargeID), 0, 'revoked', now())
                """)
            context.outcome = "nothing awarded"
            return
        }
        guard try row.decode("status", as: String.self) == "awarded" else {
            context.outcome = "already revoked"
            return
        }
        let points: Int64 = try row.decode("points")
        db.queue("UPDATE awards SET status = 'revoked', revoked_at = now() WHERE order_id = \(event.orderID)")
        try context.emit(LoyaltyPointsRevoked(orderID: event.orderID, refundID: event.refundID, points: points))
        context.outcome = "revoked"
    }
}

/// An order's points, as operators and tests see them.
public struct Award: Sendable, Codable, Hashable {
    public var orderID: String
    public var points: Int64
    /// `awarded` or `revoked`.
    public var status: String

    public init(orderID: String, points: Int64, status: String) {
        self.orderID = orderID
        self.points = points
        self.status = status
    }
}

public enum LoyaltyAdmin {
    /// Every order's award, or one order's.
    public static func awards(orderID: String? = nil, on db: PGConnection) async throws -> [Award] {
        try await db.query("""
            SELECT order_id, points, status FROM awards WHERE \(orderID)::text IS NULL OR order_id = \(orderID) ORDER BY order_id
            """).map { row in
            Award(orderID: try row.decode("order_id"), points: try row.decode("points"), status: try row.decode("status"))
        }
    }
}
