import Foundation
import PGClient
import SagaKit
import Testbed
import Testing
import TestSupport

struct Rollback: Error {}

@Suite("Outbox relay", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(3)))
struct OutboxRelayTests {
    @Test("a rolled-back transaction's event never reaches Kafka; a committed one arrives")
    func rolledBackNeverPublished() async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            let relay = try harness.start(["--relay-only"])
            let committed = try harness.ping(1, saga: "saga-committed")
            let rolledBack = try harness.ping(2, saga: "saga-rolled-back")
            let after = try harness.ping(3, saga: "saga-after")
            try await harness.append([committed], on: db)
            await #expect(throws: Rollback.self) {
                try await db.withTransaction { tx in
                    try Outbox.append([rolledBack], on: tx)
                    throw Rollback()
                }
            }
            try await harness.append([after], on: db)
            // The relay publishes in outbox order, so once the last committed event is on the topic, anything
            // before it that was going to be published has been.
            let messages = try await KafkaOracle.waitForMessages(harness.pingTopic, count: 2)
            let ids = messages.compactMap(\.eventID)
            #expect(Set(ids) == [committed.envelope.eventID, after.envelope.eventID])
            #expect(!ids.contains(rolledBack.envelope.eventID))
            let status = try await Outbox.status(on: db)
            #expect(status.pending == 0)
            #expect(relay.isRunning)
            await db.close()
        }
    }
}
