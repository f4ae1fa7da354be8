import Foundation
import OrderSaga
import PGClient
import SagaKit

/// The Inventory service: holds stock for orders, and releases it when the payment is declined or refunded.
public enum Inventory: SagaParticipant {
    public static let name = "inventory"
    public static let databaseURLVariable = "INVENTORY_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    public static func migrators() throws -> [PGMigrator] {
        [try PGMigrator.load(component: name, bundle: .module)]
    }

    public static func consumers(_ context: ParticipantContext<NoConfiguration>) throws -> [ConsumerDefinition] {
        var handlers = EventHandlers()
        handlers.count(emitted: InventoryReserved.self, as: "inventory_reservations_total", help: "Orders whose stock was reserved.")
        handlers.count(emitted: InventoryRejected.self, as: "inventory_rejections_total", help: "Orders refused for want of stock (or an unknown SKU).")
        handlers.count(emitted: InventoryReleased.self, as: "inventory_releases_total", help: "Reservations released by compensation.")
        handlers.count(emitted: InventoryReleaseFailed.self, as: "inventory_release_failures_total", help: "Releases that could not apply: an operator must act.")
        handlers.beforeEachBatch(lockStock)
        handlers.onBatch(OrderPlaced.self, reserve)
        // Released after a decline, after a refund, and after an operator skipped the refund: the compensations go
        // on in reverse order whichever way the one before was settled.
        releases(on: PaymentDeclined.self, { $0.orderID }, &handlers)
        releases(on: PaymentRefunded.self, { $0.orderID }, &handlers)
        releases(on: PaymentRefundSkipped.self, { $0.orderID }, &handlers)
        handlers.onBatch(ConfirmationSent.self, fulfil)
        return [ConsumerDefinition(
            name: "saga", topics: [OrderSagaTopics.orders, OrderSagaTopics.payment, OrderSagaTopics.notification], handlers: handlers)]
    }

    /// `release_inventory` when `E` arrives; parked (and `InventoryReleaseFailed`) when it cannot apply.
    static func releases<E: SagaEvent>(on type: E.Type, _ orderID: @escaping @Sendable (E) -> String, _ handlers: inout EventHandlers) {
        handlers.compensation(
            type, name: SagaStep.releaseInventory.rawValue,
            failed: { event, reason in InventoryReleaseFailed(orderID: orderID(event), reason: reason) },
            skipped: { event, skip in InventoryReleaseSkipped(orderID: orderID(event), reason: skip.reason, skippedBy: skip.actor) }
        ) { event, context, db in
            try release(orderID: orderID(event), trigger: E.eventType, &context, db)
        }
    }

    /// Locks, in SKU order, every `stock` row the batch may change: the new orders' products and those of the
    /// reservations the other events name. Every later lock in the batch's transaction is then already held, so
    /// consumers of different partitions take turns on shared products instead of deadlocking. Queued: it goes
    /// with the first handler's round trip and costs none of its own.
    static func lockStock(_ events: [any SagaEvent], _ db: isolated PGConnection) {
        var skus = Set<String>()
        var orderIDs: [String] = []
        for event in events {
            switch event {
            case let order as OrderPlaced: skus.insert(order.sku)
            case let sent as ConfirmationSent: orderIDs.append(sent.orderID)
            case let declined as PaymentDeclined: orderIDs.append(declined.orderID)
            case let refunded as PaymentRefunded: orderIDs.append(refunded.orderID)
            case let skipped as PaymentRefundSkipped: orderIDs.append(skipped.orderID)
            default: break
            }
        }
        // One array of keys, so the primary key's index finds just these rows (an OR with a subquery would filter
        // the whole catalogue) and returns them in SKU order, the order they are locked in.
        db.queue("""
            SELECT sku FROM stock
            WHERE sku = ANY(ARRAY(SELECT unnest(\(skus.sorted())::text[])
                                  UNION SELECT sku FROM reservations WHERE order_id = ANY(\(orderIDs)::text[])))
            ORDER BY sku FOR UPDATE
            """)
    }

    /// `OrderPlaced`: hold the stock, or say why not. The SKUs' rows are locked (already, by `lockStock`, in the
    /// consumer runner; the lock here is what reads `available`), so concurrent orders for one SKU take turns and
    /// never oversell. The run is
    /// decided in order, in memory, then written with one statement per table.
    static func reserve(_ orders: [OrderPlaced], _ contexts: inout [EventContext], _ db: isolated PGConnection) throws {
        let orderIDs = orders.map(\.orderID)
        let skus = Array(Set(orders.map(\.sku))).sorted()
        // Both reads in one round trip.
        let reads = try db.queries([
            """
            SELECT order_id FROM reservations WHERE order_id = ANY(\(orderIDs)::text[])
            UNION ALL SELECT order_id FROM rejections WHERE order_id = ANY(\(orderIDs)::text[])
            """,
            "SELECT sku, available FROM stock WHERE sku = ANY(\(skus)::text[]) ORDER BY sku FOR UPDATE",
        ])
        var decided = Set(try reads[0].map { try $0.decode("order_id", as: String.self) })
        var available: [String: Int] = [:]
        for row in reads[1] {
            available[try row.decode("sku")] = try row.decode("available")
        }
        var reserved: [OrderPlaced] = []
        var rejected: [(order: OrderPlaced, reason: String)] = []
        for (index, order) in orders.enumerated() {
            guard decided.insert(order.orderID).inserted else {
                contexts[index].outcome = "already decided"
                continue
            }
            let reason: String?
            if order.quantity < 1 {
                reason = "invalid quantity \(order.quantity): must be at least 1"
            } else if let units = available[order.sku] {
                reason = units >= order.quantity ? nil : "not enough stock for \(order.sku): requested \(order.quantity), available \(units)"
            } else {
                reason = "unknown SKU \(order.sku)"
            }
            if let reason {
                rejected.append((order, reason))
                try contexts[index].emit(InventoryRejected(orderID: order.orderID, sku: order.sku, quantity: order.quantity, reason: reason))
                contexts[index].outcome = "rejected"
            } else {
                available[order.sku]! -= order.quantity
                reserved.append(order)
                try contexts[index].emit(InventoryReserved(
                    orderID: order.orderID, sku: order.sku, quantity: order.quantity, amountCents: order.amountCents,
                    currency: order.currency))
                contexts[index].outcome = "reserved"
            }
        }
        if !reserved.isEmpty {
            var held: [String: Int] = [:]
            for order in reserved { held[order.sku, default: 0] += order.quantity }
            db.queue("""
                UPDATE stock SET available = available - h.units, reserved = reserved + h.units, updated_at = now()
                FROM unnest(\(Array(held.keys))::text[], \(Array(held.values))::int[]) AS h(sku, units)
                WHERE stock.sku = h.sku
                """)
            db.queue("""
                INSERT INTO reservations (order_id, sku, quantity, status)
                SELECT order_id, sku, quantity, 'reserved'
                FROM unnest(\(reserved.map(\.orderID))::text[], \(reserved.map(\.sku))::text[], \(reserved.map(\.quantity))::int[])
                     AS r(order_id, sku, quantity)
                """)
        }
        if !rejected.isEmpty {
            db.queue("""
                INSERT INTO rejections (order_id, sku, quantity, reason)
                SELECT * FROM unnest(\(rejected.map(\.order.orderID))::text[], \(rejected.map(\.order.sku))::text[],
                                     \(rejected.map(\.order.quantity))::int[], \(rejected.map(\.reason))::text[])
                """)
        }
    }

    /// The compensation: put held stock back. Only a reservation still held is released, so a repeated or late
    /// trigger changes nothing. None to release, or one already sold, throws `CompensationFailure`: SagaKit parks
    /// it and emits `InventoryReleaseFailed`.
    static func release(orderID: String, trigger: String, _ context: inout EventContext, _ db: isolated PGConnection) throws {
        let rows = try db.query("SELECT sku, quantity, status FROM reservations WHERE order_id = \(orderID) FOR UPDATE")
        guard let row = rows.first else {
            throw CompensationFailure("no reservation for order \(orderID) to release after \(trigger)")
        }
        let status: String = try row.decode("status")
        guard status == "reserved" else {
            if status == "fulfilled" {
                throw CompensationFailure("order \(orderID) was already fulfilled; cannot release after \(trigger)")
            }
            context.outcome = "already released"
            return
        }
        let sku: String = try row.decode("sku")
        let quantity: Int = try row.decode("quantity")
        db.queue("""
            UPDATE stock SET available = available + \(quantity), reserved = reserved - \(quantity), updated_at = now() WHERE sku = \(sku)
            """)
        db.queue("UPDATE reservations SET status = 'released', released_at = now() WHERE order_id = \(orderID)")
        try context.emit(InventoryReleased(orderID: orderID, sku: sku, quantity: quantity, trigger: trigger))
        context.outcome = "released"
    }

    /// `ConfirmationSent`: the held units are sold. Reservations not (or no longer) held are left alone.
    static func fulfil(_ events: [ConfirmationSent], _ contexts: inout [EventContext], _ db: isolated PGConnection) throws {
        let sold = try db.query("""
            UPDATE reservations SET status = 'fulfilled', fulfilled_at = now()
            WHERE order_id = ANY(\(events.map(\.orderID))::text[]) AND status = 'reserved'
            RETURNING order_id, sku, quantity
            """)
        var units: [String: Int] = [:]
        var fulfilled = Set<String>()
        for row in sold {
            fulfilled.insert(try row.decode("order_id"))
            units[try row.decode("sku"), default: 0] += try row.decode("quantity", as: Int.self)
        }
        if !units.isEmpty {
            let skus = units.keys.sorted()
            db.queue("""
                UPDATE stock SET reserved = reserved - s.units, fulfilled = fulfilled + s.units, updated_at = now()
                FROM unnest(\(skus)::text[], \(skus.map { units[$0]! })::int[]) AS s(sku, units)
                WHERE stock.sku = s.sku
                """)
        }
        for (index, event) in events.enumerated() {
            // Only the first event for an order fulfils it; a second one, like a redelivery, finds nothing held.
            contexts[index].outcome = fulfilled.remove(event.orderID) != nil ? "fulfilled" : "nothing held"
        }
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
    /// Sets the units available for sale; held and sold units are not touched. The total ever stocked follows
    /// (`stocked = available + reserved + fulfilled`), which is what `saga-check` holds every SKU to.
    public static func set(sku: String, available: Int, on db: PGConnection) async throws {
        try await db.query("""
            INSERT INTO stock (sku, available, stocked) VALUES (\(sku), \(available), \(available))
            ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available,
                stocked = EXCLUDED.available + stock.reserved + stock.fulfilled, updated_at = now()
            """)
    }

    public static func list(on db: PGConnection) async throws -> [StockLevel] {
        try await db.query("SELECT sku, available, reserved, fulfilled FROM stock ORDER BY sku").map { row in
            StockLevel(sku: try row.decode("sku"), available: try row.decode("available"), reserved: try row.decode("reserved"),
                       fulfilled: try row.decode("fulfilled"))
        }
    }
}
