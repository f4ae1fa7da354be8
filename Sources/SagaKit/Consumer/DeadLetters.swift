import Foundation
import KafkaClient

/// Messages no handler can use go to `<topic>.dlq` with the original key, value and headers, plus headers that
/// say why and where they came from. The consumer then moves on.
public enum DeadLetters {
    public static let suffix = ".dlq"
    public static let reasonHeader = "sagakit-dlq-reason"
    public static let sourceTopicHeader = "sagakit-dlq-source-topic"
    public static let sourcePartitionHeader = "sagakit-dlq-source-partition"
    public static let sourceOffsetHeader = "sagakit-dlq-source-offset"
    public static let consumerHeader = "sagakit-dlq-consumer"
    public static let timeHeader = "sagakit-dlq-time"

    public static func topic(for source: String) -> String { source + suffix }

    public static func message(for original: KafkaMessage, reason: String, consumer: String, at date: Date = Date()) -> KafkaOutgoingMessage {
        var headers = original.headers
        headers.append(KafkaHeader(name: reasonHeader, string: String(reason.prefix(1000))))
        headers.append(KafkaHeader(name: sourceTopicHeader, string: original.topic))
        headers.append(KafkaHeader(name: sourcePartitionHeader, string: String(original.partition)))
        headers.append(KafkaHeader(name: sourceOffsetHeader, string: String(original.offset)))
        headers.append(KafkaHeader(name: consumerHeader, string: consumer))
        headers.append(KafkaHeader(name: timeHeader, string: RFC3339.format(date)))
        return KafkaOutgoingMessage(topic: topic(for: original.topic), key: original.key, value: original.value, headers: headers)
    }
}
