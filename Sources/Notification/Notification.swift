import ArgumentParser
import Foundation
import OrderSaga
import PGClient
import SagaKit
import SagaKitService

/// The Notification service: sends the order confirmation once the payment is captured, or reports that it
/// could not, which starts the compensations.
public enum Notification: SagaServiceDefinition {
    public static let name = "notification"
    public static let databaseURLVariable = "NOTIFICATION_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    public struct Options: ParsableArguments {
        @Option(help: "Folder the default sender writes one .eml file per confirmation into. [env: NOTIFICATION_SPOOL_DIR, SAGAKIT_SPOOL_DIR] (default: ./spool)")
        public var spoolDir: String?

        @Option(help: "Delivery attempts for a transient sender error, with backoff, before the confirmation fails. (default: 4)")
        public var senderAttempts: Int = 4

        @Option(help: "Make the sender fail this many times per message with a transient error (to exercise retries). [env: NOTIFICATION_SENDER_FAILURES] (default: 0)")
        public var senderFailures: Int?

        public init() {}

        public func validate() throws {
            guard senderAttempts >= 1 else { throw ValidationError("--sender-attempts must be at least 1") }
        }

        public var resolvedSpoolDir: String {
            spoolDir ?? Environment.value("NOTIFICATION_SPOOL_DIR") ?? Environment.value("SAGAKIT_SPOOL_DIR") ?? "spool"
        }

        public func sender() throws -> any ConfirmationSender {
            let spool = try SpoolSender(directory: URL(fileURLWithPath: resolvedSpoolDir))
            let failures = senderFailures ?? Environment.value("NOTIFICATION_SENDER_FAILURES").flatMap(Int.init) ?? 0
            return failures > 0 ? FlakySender(wrapping: spool, failures: failures) : spool
        }
    }

    public static func migrators() throws -> [PGMigrator] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw PGError(code: .migration, message: "notification migrations missing from the bundle")
        }
        return [try PGMigrator.load(component: name, directory: directory)]
    }

    public static func consumers(_ context: ServiceContext<Options>) throws -> [ConsumerDefinition] {
        let dispatcher = Dispatcher(sender: try context.options.sender(), attempts: context.options.senderAttempts)
        var handlers = EventHandlers()
        handlers.on(OrderPlaced.self) { event, context, db in try dispatcher.orderPlaced(event, &context, db) }
        handlers.on(PaymentCaptured.self) { event, context, db in try dispatcher.paymentCaptured(event, &context, db) }
        return [ConsumerDefinition(name: "saga", topics: [OrderSagaTopics.orders, OrderSagaTopics.payment], handlers: handlers)]
    }

    /// The reason a failed confirmation carries; the saga's error.
    public static func failureReason(orderID: String) -> String {
        "Confirmation dispatch failed for order \(orderID)"
    }

    /// A plausible address: one `@`, a dot in the domain, no spaces or control characters, at most 254 bytes.
    public static func isValidEmail(_ address: String) -> Bool {
        guard address.utf8.count <= 254, !address.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } == true }) else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }
}

/// Renders and delivers confirmations; both events can arrive first, and whichever completes the pair sends.
struct Dispatcher: Sendable {
    let sender: any ConfirmationSender
    let attempts: Int

    func orderPlaced(_ order: OrderPlaced, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        try db.query("""
            INSERT INTO orders (order_id, customer_email, sku, quantity, amount_cents, currency, fail_confirmation)
            VALUES (\(order.orderID), \(order.customerEmail), \(order.sku), \(order.quantity), \(order.amountCents), \(order.currency), \(order.failConfirmation))
            ON CONFLICT (order_id) DO NOTHING
            """)
        let waiting = try db.query("SELECT payment_event_id FROM confirmations WHERE order_id = \(order.orderID) AND status = 'awaiting_order' FOR UPDATE")
        guard let row = waiting.first else {
            context.outcome = "order recorded"
            return
        }
        try dispatch(orderID: order.orderID, causedBy: try row.decode("payment_event_id"), &context, db)
    }

    func paymentCaptured(_ payment: PaymentCaptured, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let existing = try db.query("SELECT status FROM confirmations WHERE order_id = \(payment.orderID) FOR UPDATE")
        if let row = existing.first {
            context.outcome = "already \(try row.decode("status", as: String.self))"
            return
        }
        try db.query("""
            INSERT INTO confirmations (order_id, status, payment_event_id, amount_cents, currency)
            VALUES (\(payment.orderID), 'awaiting_order', \(context.envelope.eventID), \(payment.amountCents), \(payment.currency))
            """)
        let known = try db.query("SELECT 1 FROM orders WHERE order_id = \(payment.orderID)")
        guard !known.isEmpty else {
            context.outcome = "awaiting order"
            return
        }
        try dispatch(orderID: payment.orderID, causedBy: context.envelope.eventID, &context, db)
    }

    /// Sends the confirmation (or decides it cannot be sent) and emits the outcome, caused by the capture.
    private func dispatch(orderID: String, causedBy paymentEventID: UUID, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let row = try db.query("""
            SELECT o.customer_email, o.sku, o.quantity, c.amount_cents, c.currency, o.fail_confirmation
            FROM orders o JOIN confirmations c USING (order_id) WHERE order_id = \(orderID)
            """)[0]
        let email: String = try row.decode("customer_email")
        let failRequested: Bool = try row.decode("fail_confirmation")
        var delivered: ConfirmationMessage?
        var tries = 0
        if !failRequested && Notification.isValidEmail(email) {
            let message = ConfirmationMessage(
                orderID: orderID, to: email,
                subject: "Your order \(orderID) is confirmed",
                body: """
                    Thank you for your order \(orderID).

                    \(try row.decode("quantity", as: Int.self)) × \(try row.decode("sku", as: String.self))
                    Total: \(Money(cents: try row.decode("amount_cents"))) \(try row.decode("currency", as: String.self))
                    """,
                messageID: "\(orderID).confirmation@sagakit.invalid"
            )
            while tries < attempts {
                tries += 1
                do {
                    try sender.send(message)
                    delivered = message
                    break
                } catch let error as TransientSendError {
                    guard tries < attempts else { break }
                    // Short, growing pauses: this holds the consumer's transaction open.
                    let millis = 10 << min(tries - 1, 6)
                    context.outcome = "retrying after \(error)"
                    Thread.sleep(forTimeInterval: Double(millis) / 1000)
                }
            }
        }
        if let delivered {
            try db.query("""
                UPDATE confirmations SET status = 'sent', message_id = \(delivered.messageID), attempts = \(tries), updated_at = now()
                WHERE order_id = \(orderID)
                """)
            try context.emit(ConfirmationSent(orderID: orderID, messageID: delivered.messageID), causedBy: paymentEventID)
            context.outcome = "sent"
        } else {
            let reason = Notification.failureReason(orderID: orderID)
            try db.query("""
                UPDATE confirmations SET status = 'failed', reason = \(reason), attempts = \(tries), updated_at = now()
                WHERE order_id = \(orderID)
                """)
            try context.emit(ConfirmationFailed(orderID: orderID, reason: reason), causedBy: paymentEventID)
            context.outcome = "failed"
        }
    }
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
