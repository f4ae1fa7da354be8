import Inventory
import Notification
import Payment
import PGClient
import SagaKit
import SagaKitService
import Testing
import TestSupport
import Tracker

/// The tables that grow with every saga keep lean planner statistics, so autoanalyze, which runs every few seconds
/// while they grow, stays cheap (ARCHITECTURE.md, Outbox and relay). Checked in each service's database as its
/// migrations leave it: SagaKit's outbox and inbox, then the service's own tables.
@Suite("Lean statistics", .enabled(if: TestEnvironment.hasStack))
struct StatisticsTests {
    /// Per service: the tables that grow with every saga, and the columns of them that get no statistics.
    static let services: [(name: String, migrators: @Sendable () throws -> [PGMigrator], tables: [String], unsampled: Set<String>)] = [
        ("tracker", Tracker.allMigrators, ["saga_events", "sagas", "orders"], ["saga_events.payload"]),
        ("inventory", Inventory.allMigrators, ["reservations", "rejections"], ["rejections.reason"]),
        ("payment", Payment.allMigrators, ["charges", "refunds", "declines"], ["declines.reason"]),
        ("notification", Notification.allMigrators, ["orders", "confirmations"], ["confirmations.reason"]),
    ]
    static let queues = ["sagakit_outbox", "sagakit_inbox"]
    static let unsampledQueueColumns: Set = ["sagakit_outbox.payload", "sagakit_outbox.traceparent", "sagakit_outbox.last_error"]

    @Test("every column of the queues and of each service's growing tables samples 3,000 rows; payloads and reasons none")
    func leanTargets() async throws {
        for service in Self.services {
            try await withScratchDatabase("stats") { database in
                let db = try await database.connect(migrating: service.migrators())
                let tables = Self.queues + service.tables
                let rows = try await db.query("""
                    SELECT c.relname::text AS table_name, a.attname::text AS column_name, a.attstattarget::int AS target
                    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                    WHERE c.relname = ANY(\(tables)::text[]) AND c.relnamespace = 'public'::regnamespace
                      AND a.attnum > 0 AND NOT a.attisdropped
                    """)
                var columns: [String: Int] = [:]
                for row in rows {
                    columns["\(try row.decode("table_name", as: String.self)).\(try row.decode("column_name", as: String.self))"] = try row.decode("target")
                }
                #expect(Set(columns.keys.map { String($0.split(separator: ".")[0]) }) == Set(tables), "\(service.name)")
                let unsampled = Self.unsampledQueueColumns.union(service.unsampled)
                #expect(unsampled.isSubset(of: columns.keys), "\(service.name): \(unsampled.subtracting(columns.keys))")
                for (column, target) in columns.sorted(by: { $0.key < $1.key }) {
                    #expect(target == (unsampled.contains(column) ? 0 : 10), "\(service.name): \(column)")
                }
                await db.close()
            }
        }
    }

    @Test("the function refuses a column the table does not have, so a misspelt payload column cannot go unnoticed")
    func unknownColumnRefused() async throws {
        try await withScratchDatabase("stats") { database in
            let db = try await database.connect(migrating: [SagaKitSchema.migrator()])
            let error = await #expect(throws: PGError.self) {
                try await db.query("SELECT sagakit_lean_statistics('sagakit_outbox', ARRAY['payloads'])")
            }
            #expect(error?.message.contains("has no column payloads") == true)
            await db.close()
        }
    }

    @Test("once analyzed, the event log has statistics for the saga id and none for the payload")
    func analyzedEventLog() async throws {
        try await withScratchDatabase("stats") { database in
            let db = try await database.connect(migrating: Tracker.allMigrators())
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
