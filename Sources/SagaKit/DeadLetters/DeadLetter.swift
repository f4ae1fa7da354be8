import Foundation
import KafkaClient

/// What a dead letter says about itself, read from its `sagakit-dlq-*` headers and, where the value is an event
/// envelope, from the envelope's frame. Never the payload: like the logs, an operator's listing must not spread
/// customers' data (the email travels in `OrderPlaced`), so only sizes say what the value held.
///
/// The JSON keys are fixed here (snake_case), so the command line's `--json` and the console's API give the
/// same shape whatever encoder they use.
public struct DeadLetter: Sendable, Hashable, Encodable {
    /// `<dlq topic>:<partition>:<offset>`: where the dead letter itself is, unique in a cluster.
    public var id: String
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The service that refused the message, and its consumer.
    public var service: String
    public var consumer: String
    public var reason: String
    /// The message key (the saga id, for an event), cut to 1 KiB by the dead-lettering; nil when it had none.
    public var key: String?
    public var sourceTopic: String
    public var sourcePartition: Int32
    public var sourceOffset: Int64
    /// When the consumer dead-lettered it (its `sagakit-dlq-time`); nil if the header is missing or unreadable.
    public var time: Date?
    /// Bytes of the value the dead letter holds; nil for a message without a value.
    public var valueBytes: Int?
    /// The original value's size when it was cut (`sagakit-dlq-truncated`): the dead letter holds only its start.
    public var valueTruncatedFrom: Int?
    /// The original key's size when it was cut (`sagakit-dlq-key-truncated`).
    public var keyTruncatedFrom: Int?
    /// Original headers left out to keep the dead letter small (`sagakit-dlq-headers-dropped`).
    public var headersDropped: Int
    /// From the envelope, when the value is one (even one whose payload or type was refused).
    public var eventType: String?
    public var eventID: String?
    public var sagaID: String?
    /// Every header's name, in order, the `sagakit-dlq-*` ones included; never their values, which may carry data.
    public var headerNames: [String]

    public var valueTruncated: Bool { valueTruncatedFrom != nil }
    public var keyTruncated: Bool { keyTruncatedFrom != nil }
    /// The source message's coordinates, `<topic>:<partition>:<offset>`.
    public var source: String { "\(sourceTopic):\(sourcePartition):\(sourceOffset)" }

    enum CodingKeys: String, CodingKey {
        case id, topic, partition, offset, service, consumer, reason, key, time
        case sourceTopic = "source_topic", sourcePartition = "source_partition", sourceOffset = "source_offset"
        case valueBytes = "value_bytes", valueTruncatedFrom = "value_truncated_from", keyTruncatedFrom = "key_truncated_from"
        case headersDropped = "headers_dropped", eventType = "event_type", eventID = "event_id", sagaID = "saga_id"
        case headerNames = "header_names", valueTruncated = "value_truncated", keyTruncated = "key_truncated"
    }

    /// Reads a message of a `.dlq` topic; nil when it lacks the headers SagaKit's dead-lettering writes (someone
    /// else's message on that topic), which a reader skips.
    public init?(_ message: KafkaMessage) {
        let headers = message.headers
        guard let sourceTopic = headers.string(DeadLetters.sourceTopicHeader),
              let sourcePartition = headers.string(DeadLetters.sourcePartitionHeader).flatMap({ Int32($0) }),
              let sourceOffset = headers.string(DeadLetters.sourceOffsetHeader).flatMap({ Int64($0) })
        else { return nil }
        id = Self.id(topic: message.topic, partition: message.partition, offset: message.offset)
        topic = message.topic
        partition = message.partition
        offset = message.offset
        service = headers.string(DeadLetters.serviceHeader) ?? ""
        consumer = headers.string(DeadLetters.consumerHeader) ?? ""
        reason = headers.string(DeadLetters.reasonHeader) ?? ""
        key = message.keyString
        self.sourceTopic = sourceTopic
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
        time = headers.string(DeadLetters.timeHeader).flatMap(RFC3339.parse)
        valueBytes = message.value?.count
        valueTruncatedFrom = headers.string(DeadLetters.truncatedHeader).flatMap { Int($0) }
        keyTruncatedFrom = headers.string(DeadLetters.keyTruncatedHeader).flatMap { Int($0) }
        headersDropped = headers.string(DeadLetters.headersDroppedHeader).flatMap { Int($0) } ?? 0
        headerNames = headers.map(\.name)
        if valueTruncatedFrom == nil, let value = message.value, let envelope = try? EventEnvelope.decode(value) {
            eventType = envelope.eventType
            eventID = envelope.eventID.uuidString.lowercased()
            sagaID = envelope.sagaID
        }
    }

    public static func id(topic: String, partition: Int32, offset: Int64) -> String { "\(topic):\(partition):\(offset)" }

    /// `<topic>:<partition>:<offset>` back into its parts; nil if it is not one. Kafka topic names cannot hold
    /// `:`, so the split is unambiguous.
    public static func parseID(_ text: String) -> (topic: String, partition: Int32, offset: Int64)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, let partition = Int32(parts[1]), partition >= 0,
              let offset = Int64(parts[2]), offset >= 0 else { return nil }
        return (String(parts[0]), partition, offset)
    }

    /// Every member, absent ones as `null`, and the truncation flags: a reader finds the same keys on every letter.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(topic, forKey: .topic)
        try container.encode(partition, forKey: .partition)
        try container.encode(offset, forKey: .offset)
        try container.encode(service, forKey: .service)
        try container.encode(consumer, forKey: .consumer)
        try container.encode(reason, forKey: .reason)
        try container.encode(key, forKey: .key)
        try container.encode(sourceTopic, forKey: .sourceTopic)
        try container.encode(sourcePartition, forKey: .sourcePartition)
        try container.encode(sourceOffset, forKey: .sourceOffset)
        try container.encode(time, forKey: .time)
        try container.encode(valueBytes, forKey: .valueBytes)
        try container.encode(valueTruncated, forKey: .valueTruncated)
        try container.encode(valueTruncatedFrom, forKey: .valueTruncatedFrom)
        try container.encode(keyTruncated, forKey: .keyTruncated)
        try container.encode(keyTruncatedFrom, forKey: .keyTruncatedFrom)
        try container.encode(headersDropped, forKey: .headersDropped)
        try container.encode(eventType, forKey: .eventType)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(sagaID, forKey: .sagaID)
        try container.encode(headerNames, forKey: .headerNames)
    }
}

/// A dead letter and the message that holds it: what a redrive needs (the original key, value and headers).
public struct StoredDeadLetter: Sendable {
    public var letter: DeadLetter
    public var message: KafkaMessage

    public init?(_ message: KafkaMessage) {
        guard let letter = DeadLetter(message) else { return nil }
        self.letter = letter
        self.message = message
    }
}

/// Which dead letters a listing keeps.
public struct DeadLetterFilter: Sendable, Hashable {
    /// Only those dead-lettered at or after this time.
    public var since: Date?
    /// Only those from this (physical) source topic.
    public var sourceTopic: String?
    /// At most this many, newest first.
    public var limit: Int?

    public init(since: Date? = nil, sourceTopic: String? = nil, limit: Int? = nil) {
        self.since = since
        self.sourceTopic = sourceTopic
        self.limit = limit
    }

    /// The letters that pass, newest first (by their time, then by position, so the order is stable).
    public func apply(_ letters: [DeadLetter]) -> [DeadLetter] {
        let kept = letters.filter { letter in
            (since.map { since in (letter.time ?? .distantPast) >= since } ?? true)
                && (sourceTopic.map { $0 == letter.sourceTopic } ?? true)
        }.sorted { a, b in
            let (ta, tb) = (a.time ?? .distantPast, b.time ?? .distantPast)
            if ta != tb { return ta > tb }
            if a.topic != b.topic { return a.topic < b.topic }
            if a.partition != b.partition { return a.partition < b.partition }
            return a.offset > b.offset
        }
        return limit.map { Array(kept.prefix($0)) } ?? kept
    }
}
