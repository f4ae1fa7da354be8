import CoreMetrics
import Foundation
import Logging
import Metrics
import PGClient
import SagaKit
import ServiceLifecycle

/// Takes finished sagas out of the tracker's view once they are older than the retention, with their events, and
/// dead letters recorded before it (but a waiting saga's): without it the view grows by every saga for the life of
/// the system, and keeps every event payload as long. The `orders` rows, emails included, stay (below).
///
/// Only `completed`, `compensated` and `failed` sagas go, by when the projection saw them finish (this database's
/// clock, not the events' dates, which a producer sets); a `compensation_failed` saga waits for an operator and
/// stays until resolved, like a saga still in flight. The `orders` rows stay: an order id is the intake's
/// idempotency key, and the participants keep their own records under it, so it must never be started again.
/// Each pass deletes at most a batch per table (10,000), so the projection's transactions wait on one statement at a
/// time; while a batch comes back full the next pass follows a second later. Every tracker process runs it; `SKIP
/// LOCKED` keeps two from working on the same sagas.
public struct ProjectionRetention: Service {
    /// Rows removed, by table (`sagas`, with their events, and `dead_letters`).
    public static let deletedMetric = "sagakit_tracker_retention_deleted_total"

    public var database: PGConfig
    public var retention: Duration
    public var logger: Logger
    public var interval: Duration = .seconds(60)
    public var catchUpInterval: Duration = .seconds(1)
    public var batchSize = 10_000

    public init(database: PGConfig, retention: Duration, logger: Logger) {
        self.database = database
        self.retention = retention
        self.logger = logger
    }

    /// What one pass deleted.
    public struct Purged: Sendable, Hashable {
        public var sagas = 0
        public var deadLetters = 0
    }

    public func run() async throws {
        TrackerMetrics.registerHelp()
        let sagas = Counter(label: Self.deletedMetric, dimensions: [("table", "sagas")])
        let deadLetters = Counter(label: Self.deletedMetric, dimensions: [("table", "dead_letters")])
        // Counted over a run of catch-up passes, logged once when it ends.
        var run = Purged()
        await runPeriodically("retention: pass", database: database, interval: interval, logger: logger) { db in
            let purged = try await Self.purge(before: Date().addingTimeInterval(-retention.seconds), limit: batchSize, on: db)
            sagas.increment(by: purged.sagas)
            deadLetters.increment(by: purged.deadLetters)
            run.sagas += purged.sagas
            run.deadLetters += purged.deadLetters
            if purged.sagas >= batchSize || purged.deadLetters >= batchSize { return catchUpInterval }
            if run.sagas + run.deadLetters > 0 {
                logger.info("retention: removed \(run.sagas) finished sagas and \(run.deadLetters) dead letters from the view")
                run = Purged()
            }
            return interval
        }
    }

    /// Deletes up to `limit` sagas that finished (as the projection saw it) before `cutoff`, with their events, and
    /// up to `limit` dead letters recorded before it, each table in its own statement. The sagas' horizon is
    /// recorded with them, for saga-check (`projection_retention`).
    public static func purge(before cutoff: Date, limit: Int, on db: PGConnection) async throws -> Purged {
        var purged = Purged()
        purged.sagas = try await db.withTransaction { tx in
            let deleted = try tx.query("""
                WITH doomed AS (
                  SELECT saga_id FROM sagas
                  WHERE state IN ('completed', 'compensated', 'failed') AND observed_terminal_at < \(cutoff)
                  ORDER BY observed_terminal_at LIMIT \(limit)
                  FOR UPDATE SKIP LOCKED
                ), events AS (
                  DELETE FROM saga_events WHERE saga_id IN (SELECT saga_id FROM doomed)
                )
                DELETE FROM sagas WHERE saga_id IN (SELECT saga_id FROM doomed)
                """).affectedRows
            if deleted > 0 {
                try tx.query("""
                    INSERT INTO projection_retention (name, purged_before) VALUES ('sagas', \(cutoff))
                    ON CONFLICT (name) DO UPDATE SET purged_before = greatest(projection_retention.purged_before, EXCLUDED.purged_before)
                    """)
            }
            return deleted
        }
        // A saga still waiting (in flight, or for an operator) keeps its dead letters: they are its runbook's clue.
        purged.deadLetters = try await db.query("""
            DELETE FROM dead_letters WHERE ctid IN (
              SELECT d.ctid FROM dead_letters d WHERE d.recorded_at < \(cutoff)
                AND NOT EXISTS (SELECT 1 FROM sagas s WHERE s.saga_id = d.saga_id AND s.state IN ('running', 'compensating', 'compensation_failed'))
              ORDER BY d.recorded_at LIMIT \(limit))
            """).affectedRows
        return purged
    }
}
