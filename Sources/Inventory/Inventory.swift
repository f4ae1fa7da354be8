import Foundation
import OrderSaga
import PGClient
import SagaKit
import SagaKitService

/// The Inventory service: holds stock for orders, and releases it when the payment is declined or refunded.
public enum Inventory: SagaServiceDefinition {
    public static let name = "inventory"
    public static let databaseURLVariable = "INVENTORY_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    public static func migrators() throws -> [PGMigrator] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw PGError(code: .migration, message: "inventory migrations missing from the bundle")
        }
        return [try PGMigrator.load(component: name, directory: directory)]
    }

    public static func consumers(_ context: ServiceContext<NoOptions>) throws -> [ConsumerDefinition] {
        var handlers = EventHandlers()
        handlers.on(OrderPlaced.self, reserve)
        handlers.on(PaymentDeclined.self) { event, context, db in try release(orderID: event.orderID, trigger: PaymentDeclined.eventType, &context, db) }
        handlers.on(PaymentRefunded.self) { event, context, db in try release(orderID: event.orderID, trigger: PaymentRefunded.eventType, &context, db) }
        handlers.on(ConfirmationSent.self, fulfil)
        return [ConsumerDefinition(
            name: "saga", topics: [OrderSagaTopics.orders, OrderSagaTopics.payment, OrderSagaTopics.notification], handlers: handlers)]
    }

    /// `OrderPlaced`: hold the stock, or say why not. The SKU's row is locked, so concurrent orders for one SKU
    /// take turns and never oversell.
    static func reserve(_ order: OrderPlaced, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let known = try db.query("""
            SELECT (SELECT status FROM reservations WHERE order_id = \(order.orderID)) AS reservation,
                   (SELECT reason FROM rejections WHERE order_id = \(order.orderID)) AS rejection
            """)[0]
        if !known.isNull("reservation") || !known.isNull("rejection") {
            context.outcome = "already decided"
            return
        }
        func reject(_ reason: String) throws {
            try db.query("""
                INSERT INTO rejections (order_id, sku, quantity, reason) VALUES (\(order.orderID), \(order.sku), \(order.quantity), \(reason))
                """)
            try context.emit(InventoryRejected(orderID: order.orderID, sku: order.sku, quantity: order.quantity, reason: reason))
            context.outcome = "rejected"
        }
        guard order.quantity >= 1 else {
            return try reject("invalid quantity \(order.quantity): must be at least 1")
        }
        let rows = try db.query("SELECT available FROM stock WHERE sku = \(order.sku) FOR UPDATE")
        guard let row = rows.first else {
            return try reject("unknown SKU \(order.sku)")
        }
        let available: Int = try row.decode("available")
        guard available >= order.quantity else {
            return try reject("not enough stock for \(order.sku): requested \(order.quantity), available \(available)")
        }
        try db.query("""
            UPDATE stock SET available = available - \(order.quantity), reserved = reserved + \(order.quantity), updated_at = now()
            WHERE sku = \(order.sku)
            """)
        try db.query("""
            INSERT INTO reservations (order_id, sku, quantity, status) VALUES (\(order.orderID), \(order.sku), \(order.quantity), 'reserved')
            """)
        try context.emit(InventoryReserved(
            orderID: order.orderID, sku: order.sku, quantity: order.quantity, amountCents: order.amountCents,
            currency: order.currency, failPayment: order.failPayment))
        context.outcome = "reserved"
    }

    /// The compensation: put held stock back. Only a reservation still held is released, so a repeated or late
    /// trigger changes nothing.
    static func release(orderID: String, trigger: String, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let rows = try db.query("SELECT sku, quantity, status FROM reservations WHERE order_id = \(orderID) FOR UPDATE")
        guard let row = rows.first else {
            try context.emit(InventoryReleaseFailed(orderID: orderID, reason: "no reservation for order \(orderID) to release after \(trigger)"))
            context.outcome = "release failed"
            return
        }
        let status: String = try row.decode("status")
        guard status == "reserved" else {
            if status == "fulfilled" {
                try context.emit(InventoryReleaseFailed(orderID: orderID, reason: "order \(orderID) was already fulfilled; cannot release after \(trigger)"))
                context.outcome = "release failed"
            } else {
                context.outcome = "already released"
            }
            return
        }
        let sku: String = try row.decode("sku")
        let quantity: Int = try row.decode("quantity")
        try db.query("""
            UPDATE stock SET available = available + \(quantity), reserved = reserved - \(quantity), updated_at = now() WHERE sku = \(sku)
            """)
        try db.query("UPDATE reservations SET status = 'released', released_at = now() WHERE order_id = \(orderID)")
        try context.emit(InventoryReleased(orderID: orderID, sku: sku, quantity: quantity, trigger: trigger))
        context.outcome = "released"
    }

    /// `ConfirmationSent`: the held units are sold.
    static func fulfil(_ event: ConfirmationSent, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let rows = try db.query("SELECT sku, quantity, status FROM reservations WHERE order_id = \(event.orderID) FOR UPDATE")
        guard let row = rows.first, try row.decode("status", as: String.self) == "reserved" else {
            context.outcome = "nothing held"
            return
        }
        let sku: String = try row.decode("sku")
        let quantity: Int = try row.decode("quantity")
        try db.query("""
            UPDATE stock SET reserved = reserved - \(quantity), fulfilled = fulfilled + \(quantity), updated_at = now() WHERE sku = \(sku)
            """)
        try db.query("UPDATE reservations SET status = 'fulfilled', fulfilled_at = now() WHERE order_id = \(event.orderID)")
        context.outcome = "fulfilled"
    }
}

/// Stock as operators see it.
public struct StockLevel: Sendable, Codable, Hashable {
    public var sku: String
    public var available: Int
    public var reserved: Int
    public var fulfilled: Int
}

public enum StockAdmin {
    /// Sets the units available for sale; held and sold units are not touched.
    public static func set(sku: String, available: Int, on db: PGConnection) async throws {
        try await db.query("""
            INSERT INTO stock (sku, available) VALUES (\(sku), \(available))
            ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()
            """)
    }

    public static func list(on db: PGConnection) async throws -> [StockLevel] {
        try await db.query("SELECT sku, available, reserved, fulfilled FROM stock ORDER BY sku").map { row in
            StockLevel(sku: try row.decode("sku"), available: try row.decode("available"), reserved: try row.decode("reserved"),
                       fulfilled: try row.decode("fulfilled"))
        }
    }
}
