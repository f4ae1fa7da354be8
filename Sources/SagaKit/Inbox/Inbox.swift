import Foundation
import PGClient

/// The consumer side of effectively-once: a row per (consumer, event) applied, written in the same transaction
/// as the effect. An event whose row exists was applied before; its redelivery is acknowledged and skipped.
public enum Inbox {
    public struct Entry: Sendable, Hashable {
        public var eventID: UUID
        public var eventType: String
        public var sagaID: String
        public var topic: String
        public var partition: Int32
        public var offset: Int64
        /// The message's timestamp (when its producer handed it to librdkafka), for the per-stage latency.
        public var producedAt: Date?
        /// When this consumer polled it.
        public var polledAt: Date?

        public init(
            eventID: UUID, eventType: String, sagaID: String, topic: String, partition: Int32, offset: Int64, producedAt: Date? = nil,
            polledAt: Date? = nil
        ) {
            self.eventID = eventID
            self.eventType = eventType
            self.sagaID = sagaID
            self.topic = topic
            self.partition = partition
            self.offset = offset
            self.producedAt = producedAt
            self.polledAt = polledAt
        }
    }

    /// Records the entries inside the caller's transaction and returns the ids that were new, i.e. the events
    /// to apply now. Concurrent claims of one event serialize on its key; the loser sees it as already claimed.
    public static func claim(_ entries: [Entry], consumer: String, on tx: isolated PGConnection) throws -> Set<UUID> {
        guard !entries.isEmpty else { return [] }
        let rows: PGRows
        if entries.count == 1 {
            let e = entries[0]
            rows = try tx.query("""
                INSERT INTO sagakit_inbox (consumer, event_id, event_type, saga_id, topic, kafka_partition, kafka_offset, produced_at, polled_at)
                VALUES (\(consumer), \(e.eventID), \(e.eventType), \(e.sagaID), \(e.topic), \(e.partition), \(e.offset), \(e.producedAt), \(e.polledAt))
                ON CONFLICT DO NOTHING RETURNING event_id
                """)
        } else {
            rows = try tx.query("""
                INSERT INTO sagakit_inbox (consumer, event_id, event_type, saga_id, topic, kafka_partition, kafka_offset, produced_at, polled_at)
                SELECT \(consumer), * FROM unnest(\(entries.map(\.eventID))::uuid[], \(entries.map(\.eventType))::text[],
                    \(entries.map(\.sagaID))::text[], \(entries.map(\.topic))::text[], \(entries.map(\.partition))::int[],
                    \(entries.map(\.offset))::bigint[], \(PGArray(entries.map(\.producedAt)))::timestamptz[], \(PGArray(entries.map(\.polledAt)))::timestamptz[])
                ON CONFLICT DO NOTHING RETURNING event_id
                """)
        }
        return Set(try rows.map { try $0.decode("event_id", as: UUID.self) })
    }

    /// Which of these events this consumer already applied (for a replay's dry run).
    public static func applied(_ eventIDs: [UUID], consumer: String, on db: PGConnection) async throws -> Set<UUID> {
        guard !eventIDs.isEmpty else { return [] }
        let rows = try await db.query("""
            SELECT event_id FROM sagakit_inbox WHERE consumer = \(consumer) AND event_id = ANY(\(eventIDs)::uuid[])
            """)
        return Set(try rows.map { try $0.decode("event_id", as: UUID.self) })
    }

    /// The inbox's horizon: entries for events processed before it may have been deleted by retention, so an
    /// event older than it could be applied twice if redelivered. nil: nothing was ever deleted.
    public static func purgedBefore(on db: PGConnection) async throws -> Date? {
        try await db.query("SELECT purged_before FROM sagakit_retention WHERE name = 'inbox'").first?.decode("purged_before")
    }
}

// MARK: - Inspection and rebuilds

extension Inbox {
    /// Several events of one type applied for one saga by one consumer: for checkers of sagas whose every event
    /// type happens once per saga (a second one means an effect applied twice).
    public struct Repeat: Sendable, Hashable {
        public var consumer: String
        public var sagaID: String
        public var eventType: String
        public var count: Int
    }

    public static func repeats(sagaIDs: [String], on db: PGConnection) async throws -> [Repeat] {
        try await db.query("""
            SELECT consumer, saga_id, event_type, count(*) AS n FROM sagakit_inbox WHERE saga_id = ANY(\(sagaIDs))
            GROUP BY consumer, saga_id, event_type HAVING count(*) > 1
            """).map { row in
            Repeat(consumer: try row.decode("consumer"), sagaID: try row.decode("saga_id"), eventType: try row.decode("event_type"),
                   count: try row.decode("n"))
        }
    }

    /// When an applied event was produced (its Kafka timestamp), polled, and claimed in the consumer's transaction.
    public struct StageTimes: Sendable, Hashable {
        public var producedAt: Date?
        public var polledAt: Date?
        public var processedAt: Date
    }

    /// Those times for each of a consumer's applied events of one type, for sagas whose id matches a LIKE pattern:
    /// the consumer end of a hop, for benchmarks.
    public static func processedTimes(consumer: String, eventType: String, sagaIDLike pattern: String, on db: PGConnection) async throws -> [UUID: StageTimes] {
        var times: [UUID: StageTimes] = [:]
        for row in try await db.query("""
            SELECT event_id, produced_at, polled_at, processed_at FROM sagakit_inbox
            WHERE consumer = \(consumer) AND event_type = \(eventType) AND saga_id LIKE \(pattern)
            """) {
            times[try row.decode("event_id")] = StageTimes(
                producedAt: try row.decode("produced_at"), polledAt: try row.decode("polled_at"), processedAt: try row.decode("processed_at"))
        }
        return times
    }

    /// Replaces a consumer's inbox rows with those in the same table of another schema (a rebuild's, named by code,
    /// never by input), inside the caller's transaction.
    public static func replaceEntries(of consumer: String, withThoseInSchema schema: String, on tx: isolated PGConnection) throws {
        try tx.query("DELETE FROM public.sagakit_inbox WHERE consumer = \(consumer)")
        try tx.query("INSERT INTO public.sagakit_inbox SELECT * FROM \(unsafeRaw: schema).sagakit_inbox WHERE consumer = \(consumer)")
    }
}
