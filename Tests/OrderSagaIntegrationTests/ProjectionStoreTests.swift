import Foundation
import OrderSaga
import OrderSagaFixtures
import PGClient
import SagaKit
import SagaKitService
import Testing
import TestSupport
import Tracker

/// The projection as the tracker stores it, in a real PostgreSQL database.
@Suite("Tracker projection store", .enabled(if: TestEnvironment.hasStack))
struct ProjectionStoreTests {
    struct Row: Equatable {
        var state: String
        var steps: [String]
        var compensations: [String]
        var error: String?
        var eventCount: Int
        var version: String
    }

    static func row(_ sagaID: String, on db: PGConnection) async throws -> Row? {
        try await db.query("""
            SELECT state, array_to_string(completed_steps, ',') AS steps, array_to_string(compensations, ',') AS compensations,
                   error, event_count, xmin::text AS version
            FROM sagas WHERE saga_id = \(sagaID)
            """).first.map { row in
            Row(state: try row.decode("state"), steps: try row.decode("steps", as: String.self).split(separator: ",").map(String.init),
                compensations: try row.decode("compensations", as: String.self).split(separator: ",").map(String.init),
                error: try row.decode("error"), eventCount: try row.decode("event_count"), version: try row.decode("version"))
        }
    }

    @Test("events recorded in batches, out of order and repeated, leave each saga's row as its whole event set derives; an event already recorded rewrites nothing")
    func batchesOutOfOrder() async throws {
        try await withScratchDatabase("proj") { database in
            let db = try await database.connect(migrating: Tracker.allMigrators())
            // Two sagas: one that completes, one whose refund fails (its row must carry the failures' reasons).
            let completed = try ProjectionSamples.envelopes(ProjectionSamples.sequences[0].events, sagaID: "A")
            let refundFailed = try ProjectionSamples.envelopes(ProjectionSamples.sequences[4].events, sagaID: "B")
            let batches: [[EventEnvelope]] = [
                [completed[2], refundFailed[3], completed[0]],
                [completed[0], refundFailed[0], refundFailed[4]],  // completed[0] again, beside new events
                [refundFailed[2], completed[3], refundFailed[1], completed[1], refundFailed[1]],
            ]
            var recorded: [EventEnvelope] = []
            for batch in batches {
                let states = try await db.withTransaction { tx in try ProjectionStore.record(batch, on: tx) }
                recorded += batch
                for (sagaID, all) in [("A", completed), ("B", refundFailed)] {
                    let seen = all.filter { event in recorded.contains { $0.eventID == event.eventID } }
                    guard !seen.isEmpty else { continue }
                    let expected = try #require(SagaProjection.derive(sagaID: sagaID, events: seen.map(SagaEventRecord.init)))
                    let stored = try #require(try await Self.row(sagaID, on: db), "saga \(sagaID) has a row")
                    #expect(stored.state == expected.state.rawValue && stored.steps == expected.completedSteps
                            && stored.compensations == expected.compensations && stored.error == expected.error
                            && stored.eventCount == expected.eventCount, "saga \(sagaID) after \(recorded.count) events: \(stored) vs \(expected)")
                    if batch.contains(where: { $0.sagaID == sagaID && !recorded.dropLast(batch.count).contains($0) }) {
                        #expect(states[sagaID] == expected.state, "a saga that gained an event reports its new state")
                    }
                }
            }
            let b = try #require(try await Self.row("B", on: db))
            #expect(b.state == "compensation_failed" && b.error == "Confirmation dispatch failed for order S; then no captured payment")

            // Everything again: no saga gained an event, so no row is rewritten.
            let before = [try await Self.row("A", on: db), b]
            let states = try await db.withTransaction { tx in try ProjectionStore.record(completed + refundFailed, on: tx) }
            #expect(states.isEmpty, "nothing new, nothing re-derived: \(states)")
            #expect([try await Self.row("A", on: db), try await Self.row("B", on: db)] == before, "the rows' versions (xmin) are unchanged")
            await db.close()
        }
    }

    @Test("an order started after the tracker already recorded later events of its saga gets a row derived from all of them")
    func orderAfterItsEvents() async throws {
        try await withScratchDatabase("proj") { database in
            let db = try await database.connect(migrating: Tracker.allMigrators())
            let reserved = try ProjectionSamples.envelopes([(ProjectionSamples.reserved, "inventory")], sagaID: "L")
            _ = try await db.withTransaction { tx in try ProjectionStore.record(reserved, on: tx) }
            let outcome = try await OrderIntake.start(
                OrderRequest(orderID: "L", sku: "w", quantity: 1, amount: Money(cents: 100), email: "a@example.com"), notify: false, on: db)
            guard case .accepted = outcome else { Issue.record("the order was not accepted: \(outcome)"); return }
            let row = try #require(try await Self.row("L", on: db))
            #expect(row.eventCount == 2 && row.state == "running" && row.steps == ["reserve_inventory"], "\(row)")
            await db.close()
        }
    }
}
