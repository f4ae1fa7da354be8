import Foundation
import PGClient
import SagaKit
import Testing
import TestSupport
import Tracker

/// The tracker's view keeps finished sagas and dead letters for the retention, then lets them go; never a saga
/// in flight or waiting for an operator, never an order.
@Suite("Projection retention", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct ProjectionRetentionTests {
    /// A saga row, one event and its order, finished (as the projection saw it) `age` ago.
    static func insertSaga(_ id: String, state: String, finishedAgo age: String?, on db: PGConnection) async throws {
        let observed = age.map { "now() - interval '\($0)'" } ?? "NULL"
        // The events' own times (finished_at) say the saga ended long ago; retention goes by `observed`.
        let finished = age == nil ? "NULL" : "now() - interval '40 days'"
        try await db.execute("""
            INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, event_id, created_at)
            VALUES ('\(id)', 'w', 1, 100, 'EUR', 'someone@example.com', gen_random_uuid(), now() - interval '40 days');
            INSERT INTO saga_events (event_id, saga_id, event_type, producer, occurred_at, payload)
            VALUES (gen_random_uuid(), '\(id)', 'OrderPlaced', 'tracker', now() - interval '40 days', '{}');
            INSERT INTO sagas (saga_id, state, started_at, updated_at, finished_at, completed_steps, compensations, event_count, observed_terminal_at)
            VALUES ('\(id)', '\(state)', now() - interval '40 days', now() - interval '40 days', \(finished), '{}', '{}', 1, \(observed));
            """)
    }

    static func count(_ sql: String, on db: PGConnection) async throws -> Int {
        try await db.query(PGQuery(stringLiteral: sql))[0].decode("n")
    }

    @Test("finished sagas older than the retention go with their events, in catch-up passes; in-flight, compensation_failed and recent ones stay, and every order")
    func finishedSagasLeaveTheView() async throws {
        try await withScratchDatabase("retention") { database in
            let db = try await database.connect(migrating: Tracker.allMigrators())
            for n in 0..<5 { try await Self.insertSaga("ORD-OLD-\(n)", state: ["completed", "compensated", "failed"][n % 3], finishedAgo: "2 hours", on: db) }
            // Its events are dated 40 days back too, but the projection saw it finish ten minutes ago: it stays.
            try await Self.insertSaga("ORD-RECENT", state: "completed", finishedAgo: "10 minutes", on: db)
            try await Self.insertSaga("ORD-OPERATOR", state: "compensation_failed", finishedAgo: "2 hours", on: db)
            try await Self.insertSaga("ORD-RUNNING", state: "running", finishedAgo: nil, on: db)
            try await db.execute("""
                INSERT INTO dead_letters (dlq_topic, dlq_partition, dlq_offset, saga_id, service, consumer, reason, source_topic, source_partition,
                                          source_offset, recorded_at)
                VALUES ('orders.dlq', 0, 1, 'ORD-X', 'inventory', 'saga', 'bad', 'orders', 0, 1, now() - interval '2 hours'),
                       ('orders.dlq', 0, 2, 'ORD-Y', 'inventory', 'saga', 'bad', 'orders', 0, 2, now()),
                       ('orders.dlq', 0, 3, 'ORD-RUNNING', 'inventory', 'saga', 'bad', 'orders', 0, 3, now() - interval '2 hours');
                """)

            // Two sagas a pass and a pass an hour apart: only catch-up passes can remove all five in time.
            var retention = ProjectionRetention(database: database.config, retention: .seconds(3600), logger: TestEnvironment.quietLogger)
            retention.batchSize = 2
            retention.interval = .seconds(3600)
            let running = Task { try await retention.run() }
            defer { running.cancel() }
            try await waitUntil("the five old finished sagas removed", timeout: .seconds(20)) {
                try await Self.count("SELECT count(*) AS n FROM sagas WHERE saga_id LIKE 'ORD-OLD-%'", on: db) == 0
            }
            running.cancel()
            _ = try? await running.value

            let sagas = try await db.query("SELECT saga_id FROM sagas ORDER BY saga_id").map { try $0.decode("saga_id", as: String.self) }
            #expect(sagas == ["ORD-OPERATOR", "ORD-RECENT", "ORD-RUNNING"])
            #expect(try await Self.count("SELECT count(*) AS n FROM saga_events WHERE saga_id LIKE 'ORD-OLD-%'", on: db) == 0, "their events went too")
            #expect(try await Self.count("SELECT count(*) AS n FROM saga_events", on: db) == 3, "the others keep theirs")
            #expect(try await Self.count("SELECT count(*) AS n FROM orders", on: db) == 8, "every order stays: an order id is never reused")
            let letters = try await db.query("SELECT saga_id FROM dead_letters ORDER BY saga_id").map { try $0.decode("saga_id", as: String.self) }
            #expect(letters == ["ORD-RUNNING", "ORD-Y"], "the old dead letter went; the recent one, and a waiting saga's old one, stayed")
            // A purged saga's absence is explained; an unknown one's too, differently.
            #expect(try await ProjectionStore.absence(sagaID: "ORD-OLD-0", on: db).contains("left the view with the retention"))
            #expect(try await ProjectionStore.absence(sagaID: "ORD-NEVER", on: db) == "the tracker has seen none of its events")
            // The horizon saga-check reads: an hour back, give or take the test's run.
            let horizon: Date = try await db.query("SELECT purged_before FROM projection_retention WHERE name = 'sagas'")[0].decode("purged_before")
            #expect(abs(horizon.timeIntervalSinceNow + 3600) < 60, "\(horizon)")
            await db.close()
        }
    }
}
