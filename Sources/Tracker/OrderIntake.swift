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

    /// `waker`: coalesce the relay's wake-ups with other starts in this process (a busy intake); nil wakes the relay
    /// after every start.
    public static func start(
        _ request: OrderRequest, topics: TopicNames = TopicNames(), notify: Bool = true, waker: RelayWaker? = nil, on db: PGConnection
    ) async throws -> Outcome {
        try request.event.validate()
        let message = try OutboxMessage(request.event, sagaID: request.orderID, causationID: nil, producer: Tracker.name,
                                        trace: .newRoot(), topics: topics)
        let row = try Outbox.row(for: message)
        let envelope = message.envelope
        guard let status = SagaProjection.derive(sagaID: request.orderID, events: [SagaEventRecord(envelope)]) else {
            preconditionFailure("a saga with one event has a status")
        }
        // One statement, so one round trip and one commit: the order, its event in the outbox, the event and the
        // saga's first status in the projection (so `status` answers before the event's round trip). All of it
        // happens only if the order id is new. The relay's wake-up follows the commit (see Outbox.wakeRelay).
        let inserted = try await db.query("""
            WITH placed AS (
              INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, fail_payment, fail_confirmation, event_id)
              VALUES (\(request.orderID), \(request.sku), \(request.quantity), \(request.amount.cents), \(request.currency), \(request.email),
                      \(request.failPayment), \(request.failConfirmation), \(envelope.eventID))
              ON CONFLICT (order_id) DO NOTHING
              RETURNING created_at
            ), outbox AS (
              INSERT INTO sagakit_outbox (event_id, topic, message_key, event_type, payload, traceparent)
              SELECT \(row.eventID), \(row.topic), \(row.key), \(row.eventType), \(row.payload), \(row.traceparent) FROM placed
            ), recorded AS (
              INSERT INTO saga_events (event_id, saga_id, event_type, producer, occurred_at, causation_id, payload)
              SELECT \(envelope.eventID), \(envelope.sagaID), \(envelope.eventType), \(envelope.producer), \(envelope.occurredAt),
                     \(envelope.causationID)::uuid, \(String(decoding: envelope.payload, as: UTF8.self)) FROM placed
              ON CONFLICT (event_id) DO NOTHING
            ), projected AS (
              INSERT INTO sagas (saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps,
                                 compensations, error, event_count)
              SELECT \(status.sagaID), \(status.state.rawValue), \(status.currentStep), \(status.waitingFor), \(status.startedAt),
                     \(status.updatedAt), \(status.finishedAt)::timestamptz, \(status.completedSteps)::text[], \(status.compensations)::text[],
                     \(status.error), \(status.eventCount) FROM placed
              ON CONFLICT (saga_id) DO NOTHING
              RETURNING saga_id
            )
            SELECT created_at, EXISTS (SELECT 1 FROM projected) AS projected FROM placed
            """)
        let outcome: Outcome
        if let first = inserted.first {
            if try !first.decode("projected", as: Bool.self) {
                // The tracker had seen events of this saga before its order: derive its status from all of them.
                try await db.withTransaction { tx in _ = try ProjectionStore.rederive(sagaID: request.orderID, on: tx) }
            }
            if notify {
                if let waker { await waker.wake(using: db) } else { await Outbox.wakeRelay(on: db) }
            }
            outcome = .accepted(eventID: envelope.eventID, at: try first.decode("created_at"))
        } else {
            let existing = try await db.query("""
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
            outcome = .alreadyStarted(at: try existing.decode("created_at"), sameDetails: same)
        }
        if case .accepted = outcome { CrashPoint.startAfterCommitBeforeResponse.hit() }
        return outcome
    }
}
