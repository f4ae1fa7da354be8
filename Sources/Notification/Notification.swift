import Foundation
import Logging
import OrderSaga
import PGClient
import SagaKit
import Synchronization

/// The Notification service: sends the order confirmation once the payment is captured, or reports that it
/// could not, which starts the compensations.
public enum Notification: SagaParticipant {
    public static let name = "notification"
    public static let databaseURLVariable = "NOTIFICATION_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    /// What Notification's rules depend on.
    public struct Configuration: Sendable {
        /// Folder the default sender writes one .eml file per confirmation into.
        public var spoolDirectory: String
        /// Delivery attempts for a transient sender error before the confirmation fails (counted per process).
        public var senderAttempts: Int
        /// Make the sender fail this many times per message with a transient error (to exercise retries).
        public var senderFailures: Int
        /// Fault option, for demos and tests: the orders whose confirmation dispatch fails without a send.
        public var failConfirmations: FaultMatcher

        public init(spoolDirectory: String = "spool", senderAttempts: Int = 4, senderFailures: Int = 0, failConfirmations: FaultMatcher = .none) {
            self.spoolDirectory = spoolDirectory
            self.senderAttempts = senderAttempts
            self.senderFailures = senderFailures
            self.failConfirmations = failConfirmations
        }

        func sender() throws -> any ConfirmationSender {
            let spool = try SpoolSender(directory: URL(fileURLWithPath: spoolDirectory))
            return senderFailures > 0 ? FlakySender(wrapping: spool, failures: senderFailures) : spool
        }
    }

    public static func migrators() throws -> [PGMigrator] {
        [try PGMigrator.load(component: name, bundle: .module)]
    }

    public static func consumers(_ context: ParticipantContext<Configuration>) throws -> [ConsumerDefinition] {
        let failing = context.configuration.failConfirmations
        if !failing.isEmpty {
            context.logger.notice("fault option: failing the confirmations of the orders that match \(failing)")
        }
        let dispatcher = Dispatcher(sender: try context.configuration.sender(), attempts: context.configuration.senderAttempts, failing: failing)
        var handlers = EventHandlers()
        handlers.count(emitted: ConfirmationSent.self, as: "notification_confirmations_sent_total", help: "Order confirmations delivered.")
        handlers.count(emitted: ConfirmationFailed.self, as: "notification_confirmations_failed_total", help: "Order confirmations that failed for good; each starts the compensations.")
        handlers.onBatch(OrderPlaced.self) { events, contexts, db in try dispatcher.ordersPlaced(events, &contexts, db) }
        handlers.onBatch(PaymentCaptured.self) { events, contexts, db in try dispatcher.paymentsCaptured(events, &contexts, db) }
        return [ConsumerDefinition(name: "saga", topics: [OrderSagaTopics.orders, OrderSagaTopics.payment], handlers: handlers)]
    }

    /// The reason a failed confirmation carries; the saga's error.
    public static func failureReason(orderID: String) -> String {
        "Confirmation dispatch failed for order \(orderID)"
    }

    /// A plausible address (the intake's check: an order that reached this service past it is failed, not sent).
    public static func isValidEmail(_ address: String) -> Bool {
        InputChecks.isPlausibleEmail(address)
    }
}

/// Renders and delivers confirmations; both events can arrive first, and whichever completes the pair sends.
///
/// A transient send failure never waits inside the transaction (it holds row locks and a connection): the
/// handler throws `ConfirmationRetry`, the consumer rolls the batch back, rewinds and retries it after its backoff,
/// with no transaction open. `memory` carries what a rollback forgets: the attempts so far, and the sends that
/// succeeded in a batch that then rolled back, so a retried batch does not send them again.
struct Dispatcher: Sendable {
    let sender: any ConfirmationSender
    let attempts: Int
    /// The fault option: the orders whose confirmation fails without a send.
    let failing: FaultMatcher
    let memory = DeliveryMemory()

    /// What a confirmation needs: the order (recorded from `OrderPlaced`) and the captured payment.
    struct Pair {
        var orderID: String
        var email: String
        var sku: String
        var quantity: Int
        var amountCents: Int64
        var currency: String
        var paymentEventID: UUID

        init(order row: PGRow, amountCents: Int64, currency: String, paymentEventID: UUID) throws {
            orderID = try row.decode("order_id")
            email = try row.decode("customer_email")
            sku = try row.decode("sku")
            quantity = try row.decode("quantity")
            self.amountCents = amountCents
            self.currency = currency
            self.paymentEventID = paymentEventID
        }
    }

    /// A confirmation's row after dispatch.
    struct Outcome {
        var orderID: String
        var status: String
        var messageID: String?
        var reason: String?
        var attempts: Int
    }

    func ordersPlaced(_ orders: [OrderPlaced], _ contexts: inout [EventContext], _ db: isolated PGConnection) throws {
        db.queue("""
            INSERT INTO orders (order_id, customer_email, sku, quantity, amount_cents, currency)
            SELECT * FROM unnest(\(orders.map(\.orderID))::text[], \(orders.map(\.customerEmail))::text[], \(orders.map(\.sku))::text[],
                                 \(orders.map(\.quantity))::int[], \(orders.map(\.amountCents))::bigint[], \(orders.map(\.currency))::text[])
            ON CONFLICT (order_id) DO NOTHING
            """)
        // Payments that arrived first and waited for their order.
        var waiting: [String: Pair] = [:]
        for row in try db.query("""
            SELECT o.order_id, o.customer_email, o.sku, o.quantity, c.amount_cents, c.currency, c.payment_event_id
            FROM confirmations c JOIN orders o USING (order_id)
            WHERE c.order_id = ANY(\(orders.map(\.orderID))::text[]) AND c.status = 'awaiting_order'
            FOR UPDATE OF c
            """) {
            let pair = try Pair(order: row, amountCents: try row.decode("amount_cents"), currency: try row.decode("currency"),
                                paymentEventID: try row.decode("payment_event_id"))
            waiting[pair.orderID] = pair
        }
        var outcomes: [Outcome] = []
        for (index, order) in orders.enumerated() {
            guard let pair = waiting.removeValue(forKey: order.orderID) else {
                contexts[index].outcome = "order recorded"
                continue
            }
            outcomes.append(try dispatch(pair, &contexts[index]))
        }
        guard !outcomes.isEmpty else { return }
        db.queue("""
            UPDATE confirmations c SET status = u.status, message_id = NULLIF(u.message_id, ''), reason = NULLIF(u.reason, ''),
                   attempts = u.attempts, updated_at = now()
            FROM unnest(\(outcomes.map(\.orderID))::text[], \(outcomes.map(\.status))::text[], \(outcomes.map { $0.messageID ?? "" })::text[],
                        \(outcomes.map { $0.reason ?? "" })::text[], \(outcomes.map(\.attempts))::int[])
                 AS u(order_id, status, message_id, reason, attempts)
            WHERE c.order_id = u.order_id
            """)
    }

    func paymentsCaptured(_ payments: [PaymentCaptured], _ contexts: inout [EventContext], _ db: isolated PGConnection) throws {
        let orderIDs = payments.map(\.orderID)
        // Both reads in one round trip.
        let reads = try db.queries([
            "SELECT order_id, status FROM confirmations WHERE order_id = ANY(\(orderIDs)::text[]) FOR UPDATE",
            "SELECT order_id, customer_email, sku, quantity FROM orders WHERE order_id = ANY(\(orderIDs)::text[])",
        ])
        var status: [String: String] = [:]
        for row in reads[0] {
            status[try row.decode("order_id")] = try row.decode("status")
        }
        var orders: [String: PGRow] = [:]
        for row in reads[1] {
            orders[try row.decode("order_id")] = row
        }
        // New confirmations are written once, with their outcome: sent, failed, or awaiting the order.
        var rows: [(outcome: Outcome, payment: PaymentCaptured, eventID: UUID)] = []
        for (index, payment) in payments.enumerated() {
            if let known = status[payment.orderID] {
                contexts[index].outcome = "already \(known)"
                continue
            }
            let eventID = contexts[index].envelope.eventID
            let outcome: Outcome
            if let order = orders[payment.orderID] {
                outcome = try dispatch(
                    try Pair(order: order, amountCents: payment.amountCents, currency: payment.currency, paymentEventID: eventID),
                    &contexts[index])
            } else {
                outcome = Outcome(orderID: payment.orderID, status: "awaiting_order", attempts: 0)
                contexts[index].outcome = "awaiting order"
            }
            status[payment.orderID] = outcome.status
            rows.append((outcome, payment, eventID))
        }
        guard !rows.isEmpty else { return }
        db.queue("""
            INSERT INTO confirmations (order_id, status, message_id, reason, payment_event_id, amount_cents, currency, attempts)
            SELECT order_id, status, NULLIF(message_id, ''), NULLIF(reason, ''), payment_event_id, amount_cents, currency, attempts
            FROM unnest(\(rows.map(\.outcome.orderID))::text[], \(rows.map(\.outcome.status))::text[],
                        \(rows.map { $0.outcome.messageID ?? "" })::text[], \(rows.map { $0.outcome.reason ?? "" })::text[],
                        \(rows.map(\.eventID))::uuid[], \(rows.map(\.payment.amountCents))::bigint[], \(rows.map(\.payment.currency))::text[],
                        \(rows.map(\.outcome.attempts))::int[])
                 AS n(order_id, status, message_id, reason, payment_event_id, amount_cents, currency, attempts)
            """)
    }

    /// Sends the confirmation (or decides it cannot be sent) and emits the outcome, caused by the capture. Throws
    /// `ConfirmationRetry` after a transient failure while attempts remain.
    private func dispatch(_ pair: Pair, _ context: inout EventContext) throws -> Outcome {
        var delivered: ConfirmationMessage?
        var tries = 0
        if !failing.matches(pair.orderID) && Notification.isValidEmail(pair.email) {
            let message = ConfirmationMessage(
                orderID: pair.orderID, to: pair.email,
                subject: "Your order \(pair.orderID) is confirmed",
                body: """
                    Thank you for your order \(pair.orderID).

                    \(pair.quantity) × \(pair.sku)
                    Total: \(Money(cents: pair.amountCents)) \(pair.currency)
                    """,
                messageID: "\(pair.orderID).confirmation@sagakit.invalid"
            )
            if let previous = memory.sent(pair.orderID) {
                // Sent in a batch that rolled back afterwards: record it, do not send it twice.
                tries = previous
                delivered = message
            } else {
                tries = memory.nextAttempt(pair.orderID)
                do {
                    try sender.send(message)
                    memory.recordSent(pair.orderID, attempts: tries)
                    delivered = message
                } catch let error as TransientSendError {
                    guard tries >= attempts else {
                        throw ConfirmationRetry(orderID: pair.orderID, attempt: tries, of: attempts, cause: error)
                    }
                }
            }
            memory.forgetAttempts(pair.orderID)
        }
        if let delivered {
            try context.emit(ConfirmationSent(orderID: pair.orderID, messageID: delivered.messageID), causedBy: pair.paymentEventID)
            context.outcome = tries > 1 ? "sent after \(tries) attempts" : "sent"
            return Outcome(orderID: pair.orderID, status: "sent", messageID: delivered.messageID, attempts: tries)
        }
        let reason = Notification.failureReason(orderID: pair.orderID)
        try context.emit(ConfirmationFailed(orderID: pair.orderID, reason: reason), causedBy: pair.paymentEventID)
        context.outcome = "failed"
        return Outcome(orderID: pair.orderID, status: "failed", reason: reason, attempts: tries)
    }
}

/// A send failed transiently and attempts remain: roll back, back off outside the transaction, try again.
struct ConfirmationRetry: TransientError, CustomStringConvertible {
    let orderID: String
    let attempt: Int
    let of: Int
    let cause: TransientSendError

    var description: String { "confirmation for order \(orderID): attempt \(attempt) of \(of) failed (\(cause))" }
}

/// What the dispatcher remembers across a rolled-back batch, in this process: attempts per undecided order, and
/// orders whose send succeeded. Each keeps the orders of its newest 5,000 to 10,000 entries (a retried batch comes
/// back within seconds), so an order whose retry never returns here (its partition moved, its event
/// dead-lettered) is forgotten in time rather than kept for the life of the process.
final class DeliveryMemory: Sendable {
    private struct State {
        var attempts = RecentEntries<Int>(capacity: DeliveryMemory.capacity)
        var sent = RecentEntries<Int>(capacity: DeliveryMemory.capacity)
    }

    static let capacity = 10_000
    private let state = Mutex(State())

    func nextAttempt(_ orderID: String) -> Int {
        state.withLock { state in
            let attempt = (state.attempts[orderID] ?? 0) + 1
            state.attempts[orderID] = attempt
            return attempt
        }
    }

    func forgetAttempts(_ orderID: String) {
        state.withLock { $0.attempts[orderID] = nil }
    }

    func recordSent(_ orderID: String, attempts: Int) {
        state.withLock { $0.sent[orderID] = attempts }
    }

    /// The attempts a send took, if it succeeded before.
    func sent(_ orderID: String) -> Int? {
        state.withLock { $0.sent[orderID] }
    }
}

/// Values by key that keep only the newest keys: once `capacity` keys have been added since the last cut, the
/// older half is dropped at once (a cut per `capacity / 2` additions, not one per addition).
struct RecentEntries<Value: Sendable>: Sendable {
    /// Each value with the number of its addition, so a cut drops only the addition it names.
    private var values: [String: (value: Value, added: Int)] = [:]
    /// Additions in order; a removed key's stays until its cut, and then drops nothing (its number no longer matches).
    private var order: [(key: String, added: Int)] = []
    private var additions = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    subscript(key: String) -> Value? {
        get { values[key]?.value }
        set {
            guard let newValue else {
                values[key] = nil
                return
            }
            if let existing = values[key] {
                values[key] = (newValue, existing.added)
                return
            }
            additions += 1
            values[key] = (newValue, additions)
            order.append((key, additions))
            if order.count > capacity {
                let evicted = order.prefix(order.count - capacity / 2)
                for entry in evicted where values[entry.key]?.added == entry.added { values[entry.key] = nil }
                order.removeFirst(evicted.count)
            }
        }
    }

    var count: Int { values.count }
}

public struct ConfirmationCounts: Sendable, Codable, Hashable {
    public var sent: Int
    public var failed: Int
    public var awaitingOrder: Int
}

public enum NotificationAdmin {
    public static func counts(on db: PGConnection) async throws -> ConfirmationCounts {
        let row = try await db.query("""
            SELECT count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status = 'failed') AS failed,
                   count(*) FILTER (WHERE status = 'awaiting_order') AS awaiting FROM confirmations
            """)[0]
        return ConfirmationCounts(sent: try row.decode("sent"), failed: try row.decode("failed"), awaitingOrder: try row.decode("awaiting"))
    }
}
