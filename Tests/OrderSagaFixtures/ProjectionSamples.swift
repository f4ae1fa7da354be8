import Foundation
import OrderSaga
import SagaKit
import Tracker

/// Sagas' events as their producers emit them, for the projection's tests: ProjectionTests (the pure derivation),
/// ProjectionStoreTests and TrackerTests (the tracker's database and binary).
public enum ProjectionSamples {
    /// A saga's events as their producers would emit them, a few milliseconds apart.
    public static func events(_ types: [(any SagaEvent, String)], start: Date = Date(timeIntervalSince1970: 1_800_000_000)) throws -> [SagaEventRecord] {
        try envelopes(types, start: start).map(SagaEventRecord.init)
    }

    public static func envelopes(_ types: [(any SagaEvent, String)], sagaID: String = "S", start: Date = Date(timeIntervalSince1970: 1_800_000_000)) throws -> [EventEnvelope] {
        var previous: UUID?
        return try types.enumerated().map { index, item in
            func wrap<E: SagaEvent>(_ event: E) throws -> EventEnvelope {
                try EventEnvelope(event, sagaID: sagaID, causationID: previous, producer: item.1,
                                  occurredAt: start.addingTimeInterval(Double(index) * 0.01))
            }
            let envelope = try wrap(item.0)
            previous = envelope.eventID
            return envelope
        }
    }

    public static let placed = OrderPlaced(orderID: "S", sku: "w", quantity: 1, amountCents: 100, currency: "USD", customerEmail: "a@b.c")
    public static let reserved = InventoryReserved(orderID: "S", sku: "w", quantity: 1, amountCents: 100, currency: "USD")
    public static let captured = PaymentCaptured(orderID: "S", chargeID: "c", amountCents: 100, currency: "USD")

    public static let sequences: [(name: String, events: [(any SagaEvent, String)], state: SagaState, steps: [String], compensations: [String], error: String?)] = [
        ("completed", [(placed, "tracker"), (reserved, "inventory"), (captured, "payment"), (ConfirmationSent(orderID: "S", messageID: "m"), "notification")],
         .completed, ["reserve_inventory", "charge_payment", "send_confirmation"], [], nil),
        ("confirmation failed", [(placed, "tracker"), (reserved, "inventory"), (captured, "payment"),
                                 (ConfirmationFailed(orderID: "S", reason: "Confirmation dispatch failed for order S"), "notification"),
                                 (PaymentRefunded(orderID: "S", chargeID: "c", refundID: "r", amountCents: 100, currency: "USD"), "payment"),
                                 (InventoryReleased(orderID: "S", sku: "w", quantity: 1, trigger: "PaymentRefunded"), "inventory")],
         .compensated, ["reserve_inventory", "charge_payment"], ["refund_payment", "release_inventory"], "Confirmation dispatch failed for order S"),
        ("payment declined", [(placed, "tracker"), (reserved, "inventory"), (PaymentDeclined(orderID: "S", amountCents: 100, currency: "USD", reason: "card declined"), "payment"),
                              (InventoryReleased(orderID: "S", sku: "w", quantity: 1, trigger: "PaymentDeclined"), "inventory")],
         .compensated, ["reserve_inventory"], ["release_inventory"], "card declined"),
        ("rejected", [(placed, "tracker"), (InventoryRejected(orderID: "S", sku: "w", quantity: 9, reason: "not enough stock"), "inventory")],
         .failed, [], [], "not enough stock"),
        ("refund failed", [(placed, "tracker"), (reserved, "inventory"), (captured, "payment"),
                           (ConfirmationFailed(orderID: "S", reason: "Confirmation dispatch failed for order S"), "notification"),
                           (PaymentRefundFailed(orderID: "S", reason: "no captured payment"), "payment")],
         .compensationFailed, ["reserve_inventory", "charge_payment"], [], "Confirmation dispatch failed for order S; then no captured payment"),
        // A parked refund retried with success: its failure is superseded, and Inventory releases after it.
        ("refund failed, then retried", [(placed, "tracker"), (reserved, "inventory"), (captured, "payment"), (confirmationFailed, "notification"),
                                         (refundFailed, "payment"), (refunded, "payment"), (releasedAfterRefund, "inventory")],
         .compensated, ["reserve_inventory", "charge_payment"], ["refund_payment", "release_inventory"], "Confirmation dispatch failed for order S"),
        // A parked refund skipped by an operator: settled, and Inventory still releases.
        ("refund failed, then skipped", [(placed, "tracker"), (reserved, "inventory"), (captured, "payment"), (confirmationFailed, "notification"),
                                         (refundFailed, "payment"), (refundSkipped, "payment"),
                                         (InventoryReleased(orderID: "S", sku: "w", quantity: 1, trigger: "PaymentRefundSkipped"), "inventory")],
         .compensated, ["reserve_inventory", "charge_payment"], ["release_inventory"], "Confirmation dispatch failed for order S"),
        ("release failed, then skipped", [(placed, "tracker"), (reserved, "inventory"), (declined, "payment"),
                                          (InventoryReleaseFailed(orderID: "S", reason: "no reservation"), "inventory"),
                                          (InventoryReleaseSkipped(orderID: "S", reason: "restocked by hand", skippedBy: "ops"), "inventory")],
         .compensated, ["reserve_inventory"], [], "card declined"),
    ]

    public static let confirmationFailed = ConfirmationFailed(orderID: "S", reason: "Confirmation dispatch failed for order S")
    public static let refundFailed = PaymentRefundFailed(orderID: "S", reason: "refund rejected by the payment provider for order S")
    public static let refunded = PaymentRefunded(orderID: "S", chargeID: "c", refundID: "r", amountCents: 100, currency: "USD")
    public static let releasedAfterRefund = InventoryReleased(orderID: "S", sku: "w", quantity: 1, trigger: "PaymentRefunded")
    public static let refundSkipped = PaymentRefundSkipped(orderID: "S", reason: "refunded by hand, ticket 42", skippedBy: "ops")
    public static let declined = PaymentDeclined(orderID: "S", amountCents: 100, currency: "USD", reason: "card declined")

    public static func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { i -> [[T]] in
            var rest = items
            let head = rest.remove(at: i)
            return permutations(rest).map { [head] + $0 }
        }
    }
}
