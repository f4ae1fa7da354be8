import PGClient
import SagaKit
import Testing
import TestSupport
import Tracker

/// The append-heavy tables keep lean planner statistics, so autoanalyze, which runs every few seconds while they
/// grow, stays cheap (docs/PERFORMANCE.md, "Autoanalyze"). Checked in the tracker's database, which holds
/// SagaKit's outbox and inbox beside its own tables.
@Suite("Lean statistics", .enabled(if: TestEnvironment.hasStack))
struct StatisticsTests {
    @Test("the outbox, the inbox, the event log, sagas and orders sample 3,000 rows per column and keep no statistics on payloads")
    func leanTargets() async throws {
        try await withScratchDatabase("stats") { database in
            let db = try await database.connect()
            for migrator in [try SagaKitSchema.migrator()] + (try Tracker.migrators()) { _ = try await migrator.migrate(db) }
            let rows = try await db.query("""
                SELECT c.relname AS table_name, a.attname AS column_name, a.attstattarget::int AS target
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                WHERE c.relname IN ('sagakit_outbox', 'sagakit_inbox', 'saga_events', 'sagas', 'orders') AND a.attnum > 0 AND NOT a.attisdropped
                """)
            var targets: [String: Int] = [:]
            for row in rows {
                targets["\(try row.decode("table_name", as: String.self)).\(try row.decode("column_name", as: String.self))"] = try row.decode("target")
            }
            let unsampled: Set = ["sagakit_outbox.payload", "sagakit_outbox.traceparent", "sagakit_outbox.last_error", "saga_events.payload"]
            // Every column of the five tables: a column added later without a target fails here.
            #expect(targets.count == 49)
            for (column, target) in targets.sorted(by: { $0.key < $1.key }) {
                #expect(target == (unsampled.contains(column) ? 0 : 10), "\(column)")
            }

            // What the targets mean once ANALYZE runs: a key column has statistics, a payload none.
            try await db.execute("""
                INSERT INTO saga_events (event_id, saga_id, event_type, producer, occurred_at, payload)
                SELECT gen_random_uuid(), 'saga-' || (i % 50), 'OrderPlaced', 'test', now(), repeat('x', 200)
                FROM generate_series(1, 500) AS i;
                ANALYZE saga_events;
                """)
            let analyzed = try await db.query("SELECT attname::text AS name FROM pg_stats WHERE tablename = 'saga_events'")
            let columns = Set(try analyzed.map { try $0.decode("name", as: String.self) })
            #expect(columns.contains("saga_id"))
            #expect(!columns.contains("payload"))
            await db.close()
        }
    }
}
