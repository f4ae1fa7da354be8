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

        public init(eventID: UUID, eventType: String, sagaID: String, topic: String, partition: Int32, offset: Int64) {
            self.eventID = eventID
            self.eventType = eventType
            self.sagaID = sagaID
            self.topic = topic
            self.partition = partition
            self.offset = offset
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
                INSERT INTO sagakit_inbox (consumer, event_id, event_type, saga_id, topic, kafka_partition, kafka_offset)
                VALUES (\(consumer), \(e.eventID), \(e.eventType), \(e.sagaID), \(e.topic), \(e.partition), \(e.offset))
                ON CONFLICT DO NOTHING RETURNING event_id
                """)
        } else {
            rows = try tx.query("""
                INSERT INTO sagakit_inbox (consumer, event_id, event_type, saga_id, topic, kafka_partition, kafka_offset)
                SELECT \(consumer), * FROM unnest(\(entries.map(\.eventID))::uuid[], \(entries.map(\.eventType))::text[],
                    \(entries.map(\.sagaID))::text[], \(entries.map(\.topic))::text[], \(entries.map(\.partition))::int[],
                    \(entries.map(\.offset))::bigint[])
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
