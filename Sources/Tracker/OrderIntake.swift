import Foundation
import OrderSaga
import PGClient
import SagaKit

/// An order as a customer places it.
public struct OrderRequest: Sendable, Hashable {
    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amount: Money
    public var currency: String
    public var email: String
    public var failPayment: Bool
    public var failConfirmation: Bool

    public init(orderID: String, sku: String, quantity: Int, amount: Money, currency: String = "USD", email: String,
                failPayment: Bool = false, failConfirmation: Bool = false) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.amount = amount
        self.currency = currency
        self.email = email
        self.failPayment = failPayment
        self.failConfirmation = failConfirmation
    }

    var event: OrderPlaced {
        OrderPlaced(orderID: orderID, sku: sku, quantity: quantity, amountCents: amount.cents, currency: currency,
                    customerEmail: email, failPayment: failPayment, failConfirmation: failConfirmation)
    }
}

/// Starting sagas: the order row and its `OrderPlaced` event commit in one transaction, or neither does.
public enum OrderIntake {
    public enum Outcome: Sendable, Hashable {
        /// A new saga; its first event is in the outbox.
        case accepted(eventID: UUID, at: Date)
        /// The order id was already started; nothing new happened.
        case alreadyStarted(at: Date, sameDetails: Bool)
    }

    public static func start(_ request: OrderRequest, topics: TopicNames = TopicNames(), notify: Bool = true, on db: PGConnection) async throws -> Outcome {
        try request.event.validate()
        let message = try OutboxMessage(request.event, sagaID: request.orderID, causationID: nil, producer: Tracker.name,
                                        trace: .newRoot(), topics: topics)
        let outcome = try await db.withTransaction { tx -> Outcome in
            let inserted = try tx.query("""
                INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, fail_payment, fail_confirmation, event_id)
                VALUES (\(request.orderID), \(request.sku), \(request.quantity), \(request.amount.cents), \(request.currency), \(request.email),
                        \(request.failPayment), \(request.failConfirmation), \(message.envelope.eventID))
                ON CONFLICT (order_id) DO NOTHING
                RETURNING created_at
                """)
            if let row = inserted.first {
                try Outbox.append([message], notify: notify, on: tx)
                // The tracker knows its own event at once: `status` answers before the event's round trip.
                try ProjectionStore.record(message.envelope, on: tx)
                return .accepted(eventID: message.envelope.eventID, at: try row.decode("created_at"))
            }
            let existing = try tx.query("""
                SELECT created_at, sku, quantity, amount_cents, currency, customer_email, fail_payment, fail_confirmation
                FROM orders WHERE order_id = \(request.orderID)
                """)[0]
            let same = try existing.decode("sku", as: String.self) == request.sku
                && existing.decode("quantity", as: Int.self) == request.quantity
                && existing.decode("amount_cents", as: Int64.self) == request.amount.cents
                && existing.decode("currency", as: String.self) == request.currency
                && existing.decode("customer_email", as: String.self) == request.email
                && existing.decode("fail_payment", as: Bool.self) == request.failPayment
                && existing.decode("fail_confirmation", as: Bool.self) == request.failConfirmation
            return .alreadyStarted(at: try existing.decode("created_at"), sameDetails: same)
        }
        if case .accepted = outcome { CrashPoint.startAfterCommitBeforeResponse.hit() }
        return outcome
    }
}
