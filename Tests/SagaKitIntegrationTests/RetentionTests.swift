import Foundation
import KafkaClient
import PGClient
import SagaKit
import Testing
import TestSupport

/// The active relay's retention passes against the testbed's database.
@Suite("Retention", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct RetentionTests {
    @Test("expired outbox and inbox rows beyond one batch go in catch-up passes a second apart, not one batch a maintenance interval; younger rows stay")
    func retentionCatchesUp() async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            // Five batches' worth of each a day old, and ten of each that retention must keep.
            try await db.query("""
                INSERT INTO sagakit_outbox (event_id, topic, message_key, event_type, payload, created_at, published_at)
                SELECT gen_random_uuid(), 'pings', 'saga-' || n, 'TestbedPing', '{}', now() - interval '1 day' + n * interval '1 ms',
                       now() - interval '1 day' + n * interval '1 ms'
                FROM generate_series(1, 2500) AS n
                UNION ALL
                SELECT gen_random_uuid(), 'pings', 'young-' || n, 'TestbedPing', '{}', now(), now() FROM generate_series(1, 10) AS n
                """)
            try await db.query("""
                INSERT INTO sagakit_inbox (consumer, event_id, event_type, saga_id, topic, kafka_partition, kafka_offset, processed_at)
                SELECT 'pings', gen_random_uuid(), 'TestbedPing', 'saga-' || n, 'pings', 0, n, now() - interval '1 day'
                FROM generate_series(1, 2500) AS n
                UNION ALL
                SELECT 'pings', gen_random_uuid(), 'TestbedPing', 'young-' || n, 'pings', 0, n, now() FROM generate_series(1, 10) AS n
                """)

            var configuration = OutboxRelayConfiguration()
            configuration.outboxRetention = .seconds(3600)
            configuration.inboxRetention = .seconds(3600)
            configuration.retentionBatchSize = 500
            // The interval a pass that kept up waits: far beyond the deadline below, so only catch-up passes count.
            configuration.maintenanceInterval = .seconds(3600)
            let producer = try ProducerHandle(logger: TestEnvironment.quietLogger) {
                try KafkaProducer(configuration: TestEnvironment.kafka, clientID: "retention-test", logger: TestEnvironment.quietLogger)
            }
            let relay = OutboxRelay(configuration: configuration, database: harness.database.config, producer: producer, logger: TestEnvironment.quietLogger)
            let running = Task { try await relay.run() }
            defer { running.cancel() }

            try await waitUntil("every expired row deleted", timeout: .seconds(30)) {
                let outbox: Int = try await db.query("SELECT count(*) AS n FROM sagakit_outbox WHERE message_key LIKE 'saga-%'")[0].decode("n")
                let inbox: Int = try await db.query("SELECT count(*) AS n FROM sagakit_inbox WHERE saga_id LIKE 'saga-%'")[0].decode("n")
                return outbox == 0 && inbox == 0
            }
            let youngOutbox: Int = try await db.query("SELECT count(*) AS n FROM sagakit_outbox WHERE message_key LIKE 'young-%'")[0].decode("n")
            let youngInbox: Int = try await db.query("SELECT count(*) AS n FROM sagakit_inbox WHERE saga_id LIKE 'young-%'")[0].decode("n")
            #expect(youngOutbox == 10 && youngInbox == 10, "rows inside the retention stay: \(youngOutbox) outbox, \(youngInbox) inbox")
            let horizon = try await db.query("SELECT purged_before FROM sagakit_retention WHERE name = 'inbox'")
            #expect(horizon.count == 1, "the inbox's purge horizon is recorded, for replay's check")
            running.cancel()
            _ = try? await running.value
            await producer.close()
            await db.close()
        }
    }
}
