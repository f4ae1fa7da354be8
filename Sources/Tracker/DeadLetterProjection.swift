import CoreMetrics
import Foundation
import KafkaClient
import Logging
import Metrics
import OrderSaga
import PGClient
import SagaKit
import ServiceLifecycle

/// One dead letter as the tracker recorded it, for `saga-tracker dead-letters` and the console's `/dead-letters`.
public struct TrackedDeadLetter: Sendable, Hashable, Codable {
    /// `<dlq topic>:<partition>:<offset>`, the id `<service> dead-letters show|redrive` takes.
    public var id: String
    @ExplicitNull public var sagaID: String?
    public var service: String
    public var consumer: String
    public var reason: String
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    @ExplicitNull public var key: String?
    @ExplicitNull public var eventType: String?
    @ExplicitNull public var eventID: UUID?
    @ExplicitNull public var time: Date?

    public init(
        id: String, sagaID: String?, service: String, consumer: String, reason: String, sourceTopic: String, sourcePartition: Int32,
        sourceOffset: Int64, key: String?, eventType: String?, eventID: UUID?, time: Date?
    ) {
        self.id = id
        self.sagaID = sagaID
        self.service = service
        self.consumer = consumer
        self.reason = reason
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        self.key = key
        self.eventType = eventType
        self.eventID = eventID
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case id, sagaID = "saga_id", service, consumer, reason, sourceTopic = "source_topic", sourcePartition = "source_partition"
        case sourceOffset = "source_offset", key, eventType = "event_type", eventID = "event_id", time
    }
}

/// The tracker's table of every service's dead letters (migration 0006): what `status` counts per saga.
///
/// The tracker already sees every saga event; projecting the `.dlq` topics beside them gives the one place where
/// "this saga has a dead letter" can be asked without reading every service's topics. The services keep the
/// authority over their own letters (`<service> dead-letters`, which reads the topics); this is a view.
public enum DeadLetterStore {
    /// The tracker's consumer of the `.dlq` topics: its group is `sagakit.tracker.dead-letters`.
    public static let consumerName = "dead-letters"
    /// The (logical) dead-letter topics of the order saga's topics, the ones it reads.
    public static let topics = OrderSagaTopics.all.map(DeadLetters.topic(for:))

    /// Records dead letters, once per coordinates; returns the refusing service of each one newly recorded.
    public static func record(_ input: [DeadLetter], on db: isolated PGConnection) throws -> [String] {
        guard !input.isEmpty else { return [] }
        // A dead letter is malformed by definition: a NUL in its key or a header would make PostgreSQL refuse the
        // whole batch, and the follower retry it for ever.
        let letters = input.map(Self.withoutNUL)
        return try db.query("""
            INSERT INTO dead_letters (dlq_topic, dlq_partition, dlq_offset, saga_id, service, consumer, reason, source_topic,
                                      source_partition, source_offset, message_key, event_type, event_id, dead_lettered_at)
            SELECT * FROM unnest(\(letters.map(\.topic))::text[], \(letters.map(\.partition))::int[], \(letters.map(\.offset))::bigint[],
                                 \(PGArray(letters.map { $0.sagaID ?? $0.key }))::text[], \(letters.map(\.service))::text[],
                                 \(letters.map(\.consumer))::text[], \(letters.map(\.reason))::text[], \(letters.map(\.sourceTopic))::text[],
                                 \(letters.map(\.sourcePartition))::int[], \(letters.map(\.sourceOffset))::bigint[],
                                 \(PGArray(letters.map(\.key)))::text[], \(PGArray(letters.map(\.eventType)))::text[],
                                 \(PGArray(letters.map(\.eventID)))::uuid[], \(PGArray(letters.map(\.time)))::timestamptz[])
            ON CONFLICT DO NOTHING
            RETURNING service
            """).map { try $0.decode("service", as: String.self) }
    }

    /// Dead letters across every service, newest first, for one service or saga or all.
    public static func list(service: String? = nil, sagaID: String? = nil, limit: Int = 100, on db: PGConnection) async throws -> [TrackedDeadLetter] {
        try await db.query("""
            SELECT dlq_topic, dlq_partition, dlq_offset, saga_id, service, consumer, reason, source_topic, source_partition, source_offset,
                   message_key, event_type, event_id, dead_lettered_at
            FROM dead_letters
            WHERE (\(service)::text IS NULL OR service = \(service)) AND (\(sagaID)::text IS NULL OR saga_id = \(sagaID))
            ORDER BY coalesce(dead_lettered_at, recorded_at) DESC, dlq_topic, dlq_partition, dlq_offset DESC
            LIMIT \(limit)
            """).map { row in
            TrackedDeadLetter(
                id: DeadLetter.id(topic: try row.decode("dlq_topic"), partition: try row.decode("dlq_partition"), offset: try row.decode("dlq_offset")),
                sagaID: try row.decode("saga_id"), service: try row.decode("service"), consumer: try row.decode("consumer"),
                reason: try row.decode("reason"), sourceTopic: try row.decode("source_topic"), sourcePartition: try row.decode("source_partition"),
                sourceOffset: try row.decode("source_offset"), key: try row.decode("message_key"), eventType: try row.decode("event_type"),
                eventID: try row.decode("event_id"), time: try row.decode("dead_lettered_at"))
        }
    }

    static func withoutNUL(_ letter: DeadLetter) -> DeadLetter {
        func clean(_ text: String) -> String { text.contains("\u{0}") ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text }
        var letter = letter
        letter.sagaID = letter.sagaID.map(clean)
        letter.key = letter.key.map(clean)
        letter.service = clean(letter.service)
        letter.consumer = clean(letter.consumer)
        letter.reason = clean(letter.reason)
        letter.sourceTopic = clean(letter.sourceTopic)
        letter.eventType = letter.eventType.map(clean)
        return letter
    }

    /// How many dead letters the saga has.
    public static func count(sagaID: String, on db: PGConnection) async throws -> Int {
        try await db.query("SELECT count(*) AS n FROM dead_letters WHERE saga_id = \(sagaID)")[0].decode("n")
    }
}

/// Follows the `.dlq` topics into `dead_letters`. A plain loop over a consumer, not an `EventConsumer`: dead
/// letters are raw messages, not events, and this consumer must never dead-letter in turn. Offsets are stored only
/// after the insert commits; a failed batch is rewound and tried again after a backoff, so nothing is skipped.
struct DeadLetterFollower: Service {
    let database: PGConfig
    let kafka: KafkaConfiguration
    let topics: TopicNames
    let logger: Logger
    var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))

    func run() async throws {
        TrackerMetrics.registerHelp()
        let group = topics.groupID(service: Tracker.name, consumer: DeadLetterStore.consumerName)
        // Dead letters are rare and need no millisecond latency: a long fetch wait keeps this consumer's idle
        // polling off the broker (each consumer fetching every 10 ms costs Tansu about 0.07 of a core).
        var kafka = kafka
        kafka.consumerProperties["fetch.wait.max.ms"] = "1000"
        let consumer = try KafkaConsumer(configuration: kafka, groupID: group, clientID: "\(Tracker.name)-\(DeadLetterStore.consumerName)", logger: logger)
        try await consumer.subscribe(DeadLetterStore.topics.map { topics($0) })
        logger.info("following the dead-letter topics as group \(group)")
        var db: PGConnection?
        var failures = 0
        var uncommitted = false
        var lastCommit = ContinuousClock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let messages: [KafkaMessage]
            do {
                messages = try await consumer.poll(maxMessages: 500, timeout: .milliseconds(500))
                _ = await consumer.takeRebalanceEvents()
            } catch let error as KafkaError where error.isFatal {
                await consumer.close()
                await db?.close()
                throw error
            } catch {
                logger.warning("dead letters: poll failed: \(error)")
                continue
            }
            if !messages.isEmpty {
                let letters = messages.compactMap(DeadLetter.init)
                do {
                    if db == nil { db = try await PGConnection.connect(database, logger: logger) }
                    let added = try await db!.withTransaction { tx in try DeadLetterStore.record(letters, on: tx) }
                    for service in added { Counter(label: TrackerMetrics.deadLetters, dimensions: [("refused_by", service)]).increment() }
                    try await consumer.storeOffsets(OffsetPlan(messages: messages) { _ in true }.store)
                    uncommitted = true
                    failures = 0
                } catch {
                    failures += 1
                    logger.warning("dead letters: recording failed, will retry: \(error)")
                    await db?.close()
                    db = nil
                    try? await consumer.seek(OffsetPlan(messages: messages) { _ in false }.seek)
                    let delay = backoff.delay(attempt: failures)
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                    continue
                }
            }
            if uncommitted, ContinuousClock.now - lastCommit >= .seconds(1) {
                do {
                    try await consumer.commit()
                    uncommitted = false
                    lastCommit = .now
                } catch {
                    logger.warning("dead letters: offset commit failed: \(error)")
                }
            }
        }
        // `close` commits what was stored and leaves the group.
        await consumer.close()
        await db?.close()
    }
}
