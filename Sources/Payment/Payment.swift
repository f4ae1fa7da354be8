import Foundation
import Logging
import OrderSaga
import PGClient
import SagaKit

/// The Payment service: captures the order's amount once its stock is held, and refunds it when the
/// confirmation cannot be delivered.
public enum Payment: SagaParticipant {
    public static let name = "payment"
    public static let databaseURLVariable = "PAYMENT_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    /// What Payment's rules depend on.
    public struct Configuration: Sendable {
        /// The largest amount captured; larger orders are declined.
        public var maxAmount: Money
        /// Fault option, for demos and tests: the orders it matches are declined as a card would be.
        public var declineOrders: FaultMatcher
        /// Fault option, for demos and tests: the refunds of the orders it matches are rejected as a payment
        /// provider would, so the refund is parked for an operator.
        public var failRefunds: FaultMatcher

        public init(maxAmount: Money = Money(cents: 1_000_000), declineOrders: FaultMatcher = .none, failRefunds: FaultMatcher = .none) {
            self.maxAmount = maxAmount
            self.declineOrders = declineOrders
            self.failRefunds = failRefunds
        }
    }

    public static func migrators() throws -> [PGMigrator] {
        [try PGMigrator.load(component: name, bundle: .module)]
    }

    public static func consumers(_ context: ParticipantContext<Configuration>) throws -> [ConsumerDefinition] {
        let limit = context.configuration.maxAmount
        let decline = context.configuration.declineOrders
        if !decline.isEmpty {
            context.logger.notice("fault option: declining the orders that match \(decline)", metadata: ["decline_orders": "\(decline)"])
        }
        let failRefunds = context.configuration.failRefunds
        if !failRefunds.isEmpty {
            context.logger.notice("fault option: rejecting the refunds of the orders that match \(failRefunds)", metadata: ["fail_refunds": "\(failRefunds)"])
        }
        var handlers = EventHandlers()
        handlers.count(emitted: PaymentCaptured.self, as: "payment_charges_total", help: "Payments captured.")
        handlers.count(emitted: PaymentDeclined.self, as: "payment_declines_total", help: "Payments declined (over the limit, not positive, or the card declined).")
        handlers.count(emitted: PaymentRefunded.self, as: "payment_refunds_total", help: "Captured payments refunded by compensation.")
        handlers.count(emitted: PaymentRefundFailed.self, as: "payment_refund_failures_total", help: "Refunds that could not apply: an operator must act.")
        handlers.onBatch(InventoryReserved.self) { events, contexts, db in
            try charge(events, limit: limit, decline: decline, &contexts, db)
        }
        handlers.compensation(
            ConfirmationFailed.self, name: SagaStep.refundPayment.rawValue,
            failed: { event, reason in PaymentRefundFailed(orderID: event.orderID, reason: reason) },
            skipped: { event, skip in PaymentRefundSkipped(orderID: event.orderID, reason: skip.reason, skippedBy: skip.actor) }
        ) { event, context, db in
            try refund(event, failRefunds: failRefunds, &context, db)
        }
        return [ConsumerDefinition(name: "saga", topics: [OrderSagaTopics.inventory, OrderSagaTopics.notification], handlers: handlers)]
    }

    /// `InventoryReserved`: capture, or decline with the reason. Once per order, whatever is redelivered. `decline`
    /// is the fault option: the orders it matches are declined as a card would be.
    static func charge(_ events: [InventoryReserved], limit: Money, decline: FaultMatcher = .none, _ contexts: inout [EventContext], _ db: isolated PGConnection) throws {
        let orderIDs = events.map(\.orderID)
        var decided = Set(try db.query("""
            SELECT order_id FROM charges WHERE order_id = ANY(\(orderIDs)::text[])
            UNION ALL SELECT order_id FROM declines WHERE order_id = ANY(\(orderIDs)::text[])
            """).map { try $0.decode("order_id", as: String.self) })
        var charges: [(event: InventoryReserved, chargeID: UUID)] = []
        var declines: [(event: InventoryReserved, reason: String)] = []
        for (index, event) in events.enumerated() {
            guard decided.insert(event.orderID).inserted else {
                contexts[index].outcome = "already decided"
                continue
            }
            let amount = Money(cents: event.amountCents)
            let reason: String? =
                if decline.matches(event.orderID) { "card declined for order \(event.orderID)" }
                else if event.amountCents <= 0 { "amount \(amount) \(event.currency) is not positive" }
                else if event.amountCents > limit.cents { "amount \(amount) \(event.currency) exceeds the limit of \(limit) \(event.currency)" }
                else { nil }
            if let reason {
                declines.append((event, reason))
                try contexts[index].emit(PaymentDeclined(orderID: event.orderID, amountCents: event.amountCents, currency: event.currency, reason: reason))
                contexts[index].outcome = "declined"
            } else {
                let chargeID = UUID()
                charges.append((event, chargeID))
                try contexts[index].emit(PaymentCaptured(
                    orderID: event.orderID, chargeID: chargeID.uuidString.lowercased(), amountCents: event.amountCents, currency: event.currency))
                contexts[index].outcome = "captured"
            }
        }
        if !charges.isEmpty {
            db.queue("""
                INSERT INTO charges (order_id, charge_id, amount_cents, currency, status)
                SELECT order_id, charge_id, amount_cents, currency, 'captured'
                FROM unnest(\(charges.map(\.event.orderID))::text[], \(charges.map(\.chargeID))::uuid[],
                            \(charges.map(\.event.amountCents))::bigint[], \(charges.map(\.event.currency))::text[])
                     AS c(order_id, charge_id, amount_cents, currency)
                """)
        }
        if !declines.isEmpty {
            db.queue("""
                INSERT INTO declines (order_id, amount_cents, currency, reason)
                SELECT * FROM unnest(\(declines.map(\.event.orderID))::text[], \(declines.map(\.event.amountCents))::bigint[],
                                     \(declines.map(\.event.currency))::text[], \(declines.map(\.reason))::text[])
                """)
        }
    }

    /// The compensation for a failed confirmation: refund the captured charge, once. A refund that cannot happen
    /// (nothing captured, or the provider rejects it: `failRefunds` is the fault option that makes it) throws
    /// `CompensationFailure`, and SagaKit parks it and emits `PaymentRefundFailed`.
    static func refund(_ event: ConfirmationFailed, failRefunds: FaultMatcher = .none, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let rows = try db.query("SELECT charge_id, amount_cents, currency, status FROM charges WHERE order_id = \(event.orderID) FOR UPDATE")
        guard let row = rows.first else {
            throw CompensationFailure("no captured payment for order \(event.orderID) to refund")
        }
        guard try row.decode("status", as: String.self) == "captured" else {
            context.outcome = "already refunded"
            return
        }
        if failRefunds.matches(event.orderID) {
            throw CompensationFailure("refund rejected by the payment provider for order \(event.orderID)")
        }
        let chargeID: UUID = try row.decode("charge_id")
        let amount: Int64 = try row.decode("amount_cents")
        let currency: String = try row.decode("currency")
        let refundID = UUID()
        db.queue("""
            INSERT INTO refunds (refund_id, charge_id, order_id, amount_cents, currency)
            VALUES (\(refundID), \(chargeID), \(event.orderID), \(amount), \(currency))
            """)
        db.queue("UPDATE charges SET status = 'refunded', refunded_at = now() WHERE order_id = \(event.orderID)")
        try context.emit(PaymentRefunded(
            orderID: event.orderID, chargeID: chargeID.uuidString.lowercased(), refundID: refundID.uuidString.lowercased(),
            amountCents: amount, currency: currency))
        context.outcome = "refunded"
    }
}

/// Payments' totals, for operators and tests.
public struct PaymentTotals: Sendable, Codable, Hashable {
    public var captured: Int
    public var capturedCents: Int64
    public var refunded: Int
    public var refundedCents: Int64
    public var declined: Int
}

public enum PaymentAdmin {
    public static func totals(on db: PGConnection) async throws -> PaymentTotals {
        let row = try await db.query("""
            SELECT (SELECT count(*) FROM charges) AS captured, (SELECT coalesce(sum(amount_cents), 0)::bigint FROM charges) AS captured_cents,
                   (SELECT count(*) FROM refunds) AS refunded, (SELECT coalesce(sum(amount_cents), 0)::bigint FROM refunds) AS refunded_cents,
                   (SELECT count(*) FROM declines) AS declined
            """)[0]
        return PaymentTotals(captured: try row.decode("captured"), capturedCents: try row.decode("captured_cents"),
                             refunded: try row.decode("refunded"), refundedCents: try row.decode("refunded_cents"),
                             declined: try row.decode("declined"))
    }
}
