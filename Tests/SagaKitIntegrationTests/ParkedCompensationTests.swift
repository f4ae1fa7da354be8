import Foundation
import PGClient
@testable import SagaKit
import Synchronization
import Testbed
import Testing
import TestSupport

/// `ParkedCompensations.retry` against the testbed's database: a compensation run again outside the consumer.
@Suite("Parked compensations", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct ParkedCompensationTests {
    @Test("a retry runs the consumer's batch preparation on the parked event before the body, in the retry's transaction")
    func retryRunsTheBatchPreparationFirst() async throws {
        try await TestbedHarness.with { harness in
            try await harness.migrate()
            let db = try await harness.connect()
            // The preparation records the batch (as Inventory's takes its stock locks); the body reports whether the
            // preparation had already run for its event, in the body's own transaction.
            let preparedBeforeBody = Observations()
            var handlers = EventHandlers()
            handlers.beforeEachBatch { events, db in
                db.queue("INSERT INTO testbed_batches (sequences) VALUES (\(events.compactMap { ($0 as? TestbedPing)?.sequence })::int[])")
            }
            handlers.compensation(
                TestbedPing.self, name: "undo_ping",
                failed: { ping, _ in TestbedPong(sequence: ping.sequence) },
                skipped: { ping, _ in TestbedPong(sequence: ping.sequence) }
            ) { ping, _, db in
                // `xmin` is the inserting transaction: the preparation's row counts only if it is this transaction's.
                let rows: Int = try db.query("""
                    SELECT count(*) AS n FROM testbed_batches
                    WHERE sequences = ARRAY[\(ping.sequence)]::int[] AND xmin = pg_current_xact_id()::xid
                    """)[0].decode("n")
                preparedBeforeBody.values.withLock { $0.append(rows == 1) }
            }
            let compensations = CompensationHandlers(
                producer: Testbed.name, registry: Testbed.registry,
                consumers: [ConsumerDefinition(name: "pings", topics: [TestbedPing.topic], handlers: handlers)], topics: harness.topics.names)

            // Parked as the consumer parks a compensation that could not apply.
            let ping = try harness.ping(7, saga: "saga-parked")
            let context = {
                var context = EventContext(envelope: ping.envelope, topic: harness.pingTopic, partition: 0, offset: 0, trace: nil, producer: Testbed.name)
                context.consumer = "pings"
                return context
            }()
            try await db.withTransaction { tx in ParkedCompensations.park("undo_ping", reason: "the provider said no", context: context, on: tx) }
            let parked = try #require(try await ParkedCompensations.list(sagaID: "saga-parked", on: db).first)

            let resolution = try await ParkedCompensations.retry(id: parked.id, actor: "test", handlers: compensations, on: db)
            #expect(resolution.outcome == "retried")
            #expect(preparedBeforeBody.values.withLock { $0 } == [true], "the body ran once, after the preparation had seen its event")
            let batches = try await db.query("SELECT sequences::text AS s FROM testbed_batches").map { try $0.decode("s", as: String.self) }
            #expect(batches == ["{7}"], "the preparation ran once, on the parked event alone, and committed with the retry: \(batches)")
            await db.close()
        }
    }
}

/// What a handler saw, read by the test after it ran.
private final class Observations: Sendable {
    let values = Mutex<[Bool]>([])
}
