import Foundation
import OrderSaga
import OrderSagaFixtures
import SagaKit
import Testing
import Tracker

/// The projection is a function of the set of a saga's events: arrival order and duplicates do not matter.
@Suite("Tracker projection")
struct ProjectionTests {
    @Test("every arrival order, with and without duplicates, gives the same projection", arguments: ProjectionSamples.sequences.map(\.name))
    func orderInsensitive(_ name: String) throws {
        let sequence = ProjectionSamples.sequences.first { $0.name == name }!
        let events = try ProjectionSamples.events(sequence.events)
        let expected = try #require(SagaProjection.derive(sagaID: "S", events: events))
        #expect(expected.state == sequence.state)
        #expect(expected.completedSteps == sequence.steps)
        #expect(expected.compensations == sequence.compensations)
        #expect(expected.error == sequence.error)
        #expect(expected.finishedAt != nil && expected.currentStep == nil)
        #expect(expected.eventCount == events.count)
        var checked = 0
        for permutation in ProjectionSamples.permutations(events) {
            #expect(SagaProjection.derive(sagaID: "S", events: permutation) == expected)
            // Every event delivered twice, the copies anywhere.
            #expect(SagaProjection.derive(sagaID: "S", events: permutation + permutation.reversed()) == expected)
            checked += 1
        }
        #expect(checked == (1...events.count).reduce(1, *))
    }

    @Test("every prefix of a saga's events, in any order, gives the state that prefix implies")
    func prefixesAreInFlight() throws {
        let confirmationFailed = try ProjectionSamples.events(ProjectionSamples.sequences[1].events)
        let expectations: [(count: Int, state: SagaState, step: String?, waiting: String?)] = [
            (1, .running, "reserve_inventory", "inventory"), (2, .running, "charge_payment", "payment"),
            (3, .running, "send_confirmation", "notification"), (4, .compensating, "refund_payment", "payment"),
            (5, .compensating, "release_inventory", "inventory"), (6, .compensated, nil, nil),
        ]
        for expectation in expectations {
            let prefix = Array(confirmationFailed.prefix(expectation.count))
            for permutation in ProjectionSamples.permutations(prefix) {
                let status = try #require(SagaProjection.derive(sagaID: "S", events: permutation))
                #expect(status.state == expectation.state && status.currentStep == expectation.step && status.waitingFor == expectation.waiting,
                        "\(expectation.count) events: \(status.state) \(String(describing: status.currentStep))")
            }
        }
    }

    @Test("a saga whose later events arrive before OrderPlaced is still placed, started when it was ordered")
    func lateFirstEvent() throws {
        let events = try ProjectionSamples.events(ProjectionSamples.sequences[0].events)
        let withoutOrder = try #require(SagaProjection.derive(sagaID: "S", events: Array(events.dropFirst())))
        #expect(withoutOrder.state == .completed)
        let full = try #require(SagaProjection.derive(sagaID: "S", events: Array(events.dropFirst()) + [events[0]]))
        #expect(full.startedAt == events[0].occurredAt)
        #expect(full.timeline.map(\.name) == ["OrderPlaced", "reserve_inventory", "charge_payment", "send_confirmation"])
        #expect(full.timeline[0].sincePreviousMs == nil && full.timeline[1].sincePreviousMs == 10)
    }

    @Test("a parked compensation: failed alone is compensation_failed with the reason; a retry's success or a skip settles it, in any order")
    func parkedCompensations() throws {
        typealias P = ProjectionSamples
        let head: [(any SagaEvent, String)] = [(P.placed, "tracker"), (P.reserved, "inventory"), (P.captured, "payment"), (P.confirmationFailed, "notification")]
        let failed = try P.events(head + [(P.refundFailed, "payment")])
        let parked = try #require(SagaProjection.derive(sagaID: "S", events: failed))
        #expect(parked.state == .compensationFailed)
        #expect(parked.error == "Confirmation dispatch failed for order S; then refund rejected by the payment provider for order S")
        #expect(parked.finishedAt == failed.last?.occurredAt)

        // Skipped: still compensating until Inventory releases, then compensated, with the operator's note.
        let skipped = try P.events(head + [(P.refundFailed, "payment"), (P.refundSkipped, "payment")])
        for permutation in P.permutations(skipped) {
            let status = try #require(SagaProjection.derive(sagaID: "S", events: permutation + permutation.prefix(2)))
            #expect(status.state == .compensating && status.currentStep == "release_inventory" && status.waitingFor == "inventory")
        }
        let settled = try #require(SagaProjection.derive(sagaID: "S", events: try P.events(P.sequences.first { $0.name == "refund failed, then skipped" }!.events)))
        #expect(settled.state == .compensated && settled.error == "Confirmation dispatch failed for order S")
        #expect(settled.timeline.map(\.name) == ["OrderPlaced", "reserve_inventory", "charge_payment", "ConfirmationFailed", "PaymentRefundFailed",
                                                 "refund_payment", "release_inventory"])
        #expect(settled.timeline.map(\.note) == [nil, nil, nil, nil, nil, "skipped by operator: refunded by hand, ticket 42", nil])
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(settled)) as? [String: Any]
        let entries = try #require(json?["timeline"] as? [[String: Any]])
        #expect(entries.allSatisfy { $0.keys.contains("note") }, "every entry carries the note member, null when none")
        #expect(entries[5]["note"] as? String == "skipped by operator: refunded by hand, ticket 42")

        // Retried: the later success supersedes the failure; the release after it ends the saga.
        let retried = try P.events(head + [(P.refundFailed, "payment"), (P.refunded, "payment")])
        #expect(SagaProjection.derive(sagaID: "S", events: retried.reversed())?.state == .compensating)
    }

    @Test("no events: no projection")
    func empty() {
        #expect(SagaProjection.derive(sagaID: "S", events: []) == nil)
    }
}
