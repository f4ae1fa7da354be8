import Checker
import Foundation
import Notification
import OrderSaga
import PGClient
import Testing
import Tracker
import TestSupport

/// What the services' own databases say happened to each order, independent of the tracker.
public struct SagaTruth {
    public struct Stock: Equatable {
        public var available: Int
        public var reserved: Int
        public var fulfilled: Int
        public var total: Int { available + reserved + fulfilled }

        public init(available: Int, reserved: Int, fulfilled: Int) {
            self.available = available
            self.reserved = reserved
            self.fulfilled = fulfilled
        }
    }

    public var reservations: [String: String] = [:]
    public var rejections: Set<String> = []
    public var charges: [String: (status: String, cents: Int64)] = [:]
    public var refunds: [String: Int64] = [:]
    public var declines: Set<String> = []
    public var confirmations: [String: String] = [:]
    public var stock: [String: Stock] = [:]
    public var emlFiles: Set<String> = []

    public static func read(_ cluster: SagaCluster) async throws -> SagaTruth {
        var truth = SagaTruth()
        let inventory = try await cluster.connect(.inventory)
        for row in try await inventory.query("SELECT order_id, status FROM reservations") {
            truth.reservations[try row.decode("order_id")] = try row.decode("status")
        }
        for row in try await inventory.query("SELECT order_id FROM rejections") { truth.rejections.insert(try row.decode("order_id")) }
        for row in try await inventory.query("SELECT sku, available, reserved, fulfilled FROM stock") {
            truth.stock[try row.decode("sku")] = Stock(available: try row.decode("available"), reserved: try row.decode("reserved"),
                                                      fulfilled: try row.decode("fulfilled"))
        }
        await inventory.close()
        let payment = try await cluster.connect(.payment)
        for row in try await payment.query("SELECT order_id, status, amount_cents FROM charges") {
            truth.charges[try row.decode("order_id")] = (try row.decode("status"), try row.decode("amount_cents"))
        }
        for row in try await payment.query("SELECT order_id, amount_cents FROM refunds") { truth.refunds[try row.decode("order_id")] = try row.decode("amount_cents") }
        for row in try await payment.query("SELECT order_id FROM declines") { truth.declines.insert(try row.decode("order_id")) }
        await payment.close()
        let notification = try await cluster.connect(.notification)
        for row in try await notification.query("SELECT order_id, status FROM confirmations") {
            truth.confirmations[try row.decode("order_id")] = try row.decode("status")
        }
        await notification.close()
        truth.emlFiles = try cluster.emlFiles()
        return truth
    }

    /// The services' records once they agree with each other: the tracker can see a saga's last event before a
    /// participant has applied it (Inventory marks stock sold on the same ConfirmationSent), so wait for that.
    public static func settled(_ cluster: SagaCluster, orders: [OrderRequest], timeout: Duration = .seconds(30)) async throws -> SagaTruth {
        try await settled(cluster, ids: orders.map(\.orderID), timeout: timeout)
    }

    public static func settled(_ cluster: SagaCluster, ids: [String], timeout: Duration = .seconds(30)) async throws -> SagaTruth {
        var last: SagaTruth?
        do {
            return try await eventually("the services' records to settle", timeout: timeout, every: .milliseconds(250)) {
                let truth = try await read(cluster)
                last = truth
                let held = truth.stock.values.contains { $0.reserved > 0 }
                return !held && ids.allSatisfy({ truth.state(of: $0) != "inconsistent" }) ? truth : nil
            }
        } catch let error as TimedOut {
            // Let the invariant checks say what is wrong.
            guard let last else { throw error }
            return last
        }
    }

    /// The terminal state the participants' records imply for an order: saga-check's own reading of them.
    public func state(of orderID: String) -> String {
        var record = SagaRecords(sagaID: orderID)
        record.reservation = reservations[orderID].map { SagaRecords.Reservation(sku: "", quantity: 0, status: $0) }
        record.rejected = rejections.contains(orderID)
        record.charge = charges[orderID].map { SagaRecords.Charge(status: $0.status, amountCents: $0.cents) }
        record.refundCents = refunds[orderID]
        record.declined = declines.contains(orderID)
        record.confirmation = confirmations[orderID]
        return record.impliedState ?? "inconsistent"
    }

    /// Checks the saga's invariants over a finished run; records an issue for each violation.
    public func checkInvariants(orders: [OrderRequest], initialStock: [String: Int], projected: [String: String]) {
        // Stock: nothing created or lost, nothing left held, sold = completed orders.
        for (sku, initial) in initialStock {
            let level = stock[sku]
            #expect(level?.total == initial, "\(sku): available + reserved + fulfilled = \(String(describing: level)) ≠ \(initial)")
            #expect(level?.reserved == 0, "\(sku): units still held at the end")
            #expect((level?.available ?? -1) >= 0)
            let sold = orders.filter { $0.sku == sku && state(of: $0.orderID) == "completed" }.reduce(0) { $0 + $1.quantity }
            #expect(level?.fulfilled == sold, "\(sku): fulfilled \(String(describing: level?.fulfilled)) ≠ sold \(sold)")
        }
        // Money: captured − refunded = what completed orders cost; one charge and at most one refund per order.
        let completed = orders.filter { state(of: $0.orderID) == "completed" }
        let captured = charges.values.reduce(Int64(0)) { $0 + $1.cents }
        let refunded = refunds.values.reduce(Int64(0), +)
        #expect(captured - refunded == completed.reduce(Int64(0)) { $0 + $1.amount.cents }, "captured − refunded ≠ completed orders' total")
        // One confirmation file per completed order, and no other.
        #expect(emlFiles == Set(completed.map { SpoolSender.fileName(for: $0.orderID) }), "one .eml per completed order")
        // Every order reached a consistent outcome, and the tracker saw the same one.
        for order in orders {
            let truth = state(of: order.orderID)
            #expect(truth != "inconsistent", "order \(order.orderID): reservation \(String(describing: reservations[order.orderID])), charge \(String(describing: charges[order.orderID]?.status)), confirmation \(String(describing: confirmations[order.orderID]))")
            #expect(projected[order.orderID] == truth, "order \(order.orderID): tracker says \(String(describing: projected[order.orderID])), services say \(truth)")
        }
    }
}

/// A mixed load: a quarter each of the happy path, a failed confirmation (ids `<prefix>-failconfirm-<i>`), a
/// declined payment (`<prefix>-decline-<i>`: SagaCluster's fault options match both), and a quantity above
/// any stock; several SKUs, one of them with less stock than its orders ask for.
public enum MixedLoad {
    public static let initialStock = ["widget-a": 200, "widget-b": 200, "widget-c": 200, "widget-scarce": 8]

    public static func orders(_ count: Int, prefix: String) -> [OrderRequest] {
        let skus = initialStock.keys.sorted()
        return (0..<count).map { i in
            let sku = skus[i % skus.count]
            let scenario = (i / skus.count) % 4
            // The failing scenarios' ids carry the markers SagaCluster's fault options match.
            let marker = [1: "-failconfirm", 2: "-decline"][scenario] ?? ""
            return OrderRequest(
                orderID: "\(prefix)\(marker)-\(i)", sku: sku, quantity: scenario == 3 ? 1000 : 1 + i % 3,
                amount: Money(cents: Int64(1000 + (i * 37) % 9000)), email: "buyer\(i)@example.com")
        }
    }

    public static func setStock(_ cluster: SagaCluster) async throws {
        for (sku, units) in initialStock {
            try await cluster.command(.inventory, ["stock", "set", "--sku", sku, "--available", "\(units)"])
        }
    }
}
