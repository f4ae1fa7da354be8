import Foundation
import OrderSaga
import SagaKit
import Testing
import Tracker

/// The projection is a function of the set of a saga's events: arrival order and duplicates do not matter.
@Suite("Tracker projection")
struct ProjectionTests {
    /// A saga's events as their producers would emit them, a few milliseconds apart.
    static func events(_ types: [(any SagaEvent, String)], start: Date = Date(timeIntervalSince1970: 1_800_000_000)) throws -> [SagaEventRecord] {
        try envelopes(types, start: start).map(SagaEventRecord.init)
    }

    static func envelopes(_ types: [(any SagaEvent, String)], sagaID: String = "S", start: Date = Date(timeIntervalSince1970: 1_800_000_000)) throws -> [EventEnvelope] {
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

    static let placed = OrderPlaced(orderID: "S", sku: "w", quantity: 1, amountCents: 100, currency: "USD", customerEmail: "a@b.c")
    static let reserved = InventoryReserved(orderID: "S", sku: "w", quantity: 1, amountCents: 100, currency: "USD")
    static let captured = PaymentCaptured(orderID: "S", chargeID: "c", amountCents: 100, currency: "USD")

    static let sequences: [(name: String, events: [(any SagaEvent, String)], state: SagaState, steps: [String], compensations: [String], error: String?)] = [
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
    ]

    static func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { i -> [[T]] in
            var rest = items
            let head = rest.remove(at: i)
            return permutations(rest).map { [head] + $0 }
        }
    }

    @Test("every arrival order, with and without duplicates, gives the same projection", arguments: sequences.map(\.name))
    func orderInsensitive(_ name: String) throws {
        let sequence = Self.sequences.first { $0.name == name }!
        let events = try Self.events(sequence.events)
        let expected = try #require(SagaProjection.derive(sagaID: "S", events: events))
        #expect(expected.state == sequence.state)
        #expect(expected.completedSteps == sequence.steps)
        #expect(expected.compensations == sequence.compensations)
        #expect(expected.error == sequence.error)
        #expect(expected.finishedAt != nil && expected.currentStep == nil)
        #expect(expected.eventCount == events.count)
        var checked = 0
        for permutation in Self.permutations(events) {
            #expect(SagaProjection.derive(sagaID: "S", events: permutation) == expected)
            // Every event delivered twice, the copies anywhere.
            #expect(SagaProjection.derive(sagaID: "S", events: permutation + permutation.reversed()) == expected)
            checked += 1
        }
        #expect(checked == (1...events.count).reduce(1, *))
    }

    @Test("every prefix of a saga's events, in any order, gives the state that prefix implies")
    func prefixesAreInFlight() throws {
        let confirmationFailed = try Self.events(Self.sequences[1].events)
        let expectations: [(count: Int, state: SagaState, step: String?, waiting: String?)] = [
            (1, .running, "reserve_inventory", "inventory"), (2, .running, "charge_payment", "payment"),
            (3, .running, "send_confirmation", "notification"), (4, .compensating, "refund_payment", "payment"),
            (5, .compensating, "release_inventory", "inventory"), (6, .compensated, nil, nil),
        ]
        for expectation in expectations {
            let prefix = Array(confirmationFailed.prefix(expectation.count))
            for permutation in Self.permutations(prefix) {
                let status = try #require(SagaProjection.derive(sagaID: "S", events: permutation))
                #expect(status.state == expectation.state && status.currentStep == expectation.step && status.waitingFor == expectation.waiting,
                        "\(expectation.count) events: \(status.state) \(String(describing: status.currentStep))")
            }
        }
    }

    @Test("a saga whose later events arrive before OrderPlaced is still placed, started when it was ordered")
    func lateFirstEvent() throws {
        let events = try Self.events(Self.sequences[0].events)
        let withoutOrder = try #require(SagaProjection.derive(sagaID: "S", events: Array(events.dropFirst())))
        #expect(withoutOrder.state == .completed)
        let full = try #require(SagaProjection.derive(sagaID: "S", events: Array(events.dropFirst()) + [events[0]]))
        #expect(full.startedAt == events[0].occurredAt)
        #expect(full.timeline.map(\.name) == ["OrderPlaced", "reserve_inventory", "charge_payment", "send_confirmation"])
        #expect(full.timeline[0].sincePreviousMs == nil && full.timeline[1].sincePreviousMs == 10)
    }

    @Test("no events: no projection")
    func empty() {
        #expect(SagaProjection.derive(sagaID: "S", events: []) == nil)
    }
}
