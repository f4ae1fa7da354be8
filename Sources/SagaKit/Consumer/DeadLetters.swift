import Foundation
import KafkaClient

/// Messages no handler can use go to `<topic>.dlq` with the original key, value and headers, plus headers that
/// say why and where they came from. The consumer then moves on.
///
/// A dead letter always fits: the consumer refuses messages for being too large, so copying them whole would make
/// a dead letter the producer refuses too (librdkafka's `message.max.bytes` is 1,000,000 by default), and the
/// partition would wait on it forever. Key, value and original headers are cut to bounds that add up to well
/// under that, and headers say what was cut; the whole message stays on its source topic at the offset named.
public enum DeadLetters {
    public static let suffix = ".dlq"
    /// Every header the dead-lettering adds starts with this; a redrive removes them.
    public static let headerPrefix = "sagakit-dlq-"
    public static let reasonHeader = "sagakit-dlq-reason"
    public static let sourceTopicHeader = "sagakit-dlq-source-topic"
    public static let sourcePartitionHeader = "sagakit-dlq-source-partition"
    public static let sourceOffsetHeader = "sagakit-dlq-source-offset"
    /// The consumer's name within its service (`saga`, `projection`, ...).
    public static let consumerHeader = "sagakit-dlq-consumer"
    /// The service that refused the message (`inventory`, ...): every service names its consumer `saga`.
    public static let serviceHeader = "sagakit-dlq-service"
    public static let timeHeader = "sagakit-dlq-time"
    /// Present when the value was cut: the original value's size in bytes.
    public static let truncatedHeader = "sagakit-dlq-truncated"
    /// Present when the key was cut: the original key's size in bytes.
    public static let keyTruncatedHeader = "sagakit-dlq-key-truncated"
    /// Present when original headers were left out: how many.
    public static let headersDroppedHeader = "sagakit-dlq-headers-dropped"

    /// The value's bound: the largest valid event (64 KiB), so any message a consumer could have accepted is kept
    /// whole.
    public static let maxValueBytes = 64 * 1024
    public static let maxKeyBytes = 1024
    /// The original headers' bound (names and values together); they are kept in order until the next would pass it.
    public static let maxOriginalHeaderBytes = 16 * 1024
    static let maxReasonCharacters = 1000

    public static func topic(for source: String) -> String { source + suffix }

    public static func message(
        for original: KafkaMessage, reason: String, service: String, consumer: String, at date: Date = Date()
    ) -> KafkaOutgoingMessage {
        var headers: [KafkaHeader] = []
        var headerBytes = 0
        for header in original.headers {
            headerBytes += header.name.utf8.count + (header.value?.count ?? 0)
            guard headerBytes <= maxOriginalHeaderBytes else { break }
            headers.append(header)
        }
        let dropped = original.headers.count - headers.count
        headers.append(KafkaHeader(name: reasonHeader, string: String(reason.prefix(maxReasonCharacters))))
        headers.append(KafkaHeader(name: sourceTopicHeader, string: original.topic))
        headers.append(KafkaHeader(name: sourcePartitionHeader, string: String(original.partition)))
        headers.append(KafkaHeader(name: sourceOffsetHeader, string: String(original.offset)))
        headers.append(KafkaHeader(name: serviceHeader, string: service))
        headers.append(KafkaHeader(name: consumerHeader, string: consumer))
        headers.append(KafkaHeader(name: timeHeader, string: RFC3339.format(date)))
        if dropped > 0 { headers.append(KafkaHeader(name: headersDroppedHeader, string: String(dropped))) }
        var key = original.key
        if let whole = key, whole.count > maxKeyBytes {
            key = Array(whole.prefix(maxKeyBytes))
            headers.append(KafkaHeader(name: keyTruncatedHeader, string: String(whole.count)))
        }
        var value = original.value
        if let whole = value, whole.count > maxValueBytes {
            value = Array(whole.prefix(maxValueBytes))
            headers.append(KafkaHeader(name: truncatedHeader, string: String(whole.count)))
        }
        return KafkaOutgoingMessage(topic: topic(for: original.topic), key: key, value: value, headers: headers)
    }
}
