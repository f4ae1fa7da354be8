import Foundation
import KafkaClient
@testable import SagaKit
import Testing

@Suite("DeadLetters")
struct DeadLettersTests {
    private let original = KafkaMessage(
        topic: "run1-orders", partition: 3, offset: 1_234_567_890_123, key: Array("saga-9".utf8),
        value: [0x7B, 0x00, 0xFF, 0x7D],
        headers: [
            KafkaHeader(name: "traceparent", string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            KafkaHeader(name: "dup", string: "first"),
            KafkaHeader(name: "dup", string: "second"),
            KafkaHeader(name: "null-valued", value: nil),
        ]
    )

    @Test("goes to <topic>.dlq with the original key and value")
    func topicKeyValue() {
        let message = DeadLetters.message(for: original, reason: "bad", service: "payment", consumer: "payments")
        #expect(message.topic == "run1-orders.dlq")
        #expect(message.key == original.key)
        #expect(message.value == original.value)
        #expect(message.partition == nil)
    }

    @Test("keeps the original headers first, in order, including repeats and null values")
    func keepsHeaders() {
        let message = DeadLetters.message(for: original, reason: "bad", service: "payment", consumer: "payments")
        #expect(Array(message.headers.prefix(original.headers.count)) == original.headers)
    }

    @Test("adds reason, source topic, partition, offset, service, consumer and time headers")
    func addsHeaders() {
        let at = unitInstant
        let message = DeadLetters.message(for: original, reason: "missing event_id", service: "payment", consumer: "payments", at: at)
        let added = Array(message.headers.dropFirst(original.headers.count))
        #expect(added == [
            KafkaHeader(name: "sagakit-dlq-reason", string: "missing event_id"),
            KafkaHeader(name: "sagakit-dlq-source-topic", string: "run1-orders"),
            KafkaHeader(name: "sagakit-dlq-source-partition", string: "3"),
            KafkaHeader(name: "sagakit-dlq-source-offset", string: "1234567890123"),
            KafkaHeader(name: "sagakit-dlq-service", string: "payment"),
            KafkaHeader(name: "sagakit-dlq-consumer", string: "payments"),
            KafkaHeader(name: "sagakit-dlq-time", string: "2024-05-06T07:08:09.123456Z"),
        ])
        #expect(message.headers.string(DeadLetters.reasonHeader) == "missing event_id")
    }

    @Test("a tombstone without a key keeps its nil key and value")
    func tombstone() {
        let tombstone = KafkaMessage(topic: "t", partition: 0, offset: 0, key: nil, value: nil, headers: [])
        let message = DeadLetters.message(for: tombstone, reason: "empty", service: "s", consumer: "c")
        #expect(message.key == nil)
        #expect(message.value == nil)
        #expect(message.topic == "t.dlq")
        #expect(message.headers.count == 7)
    }

    @Test("a long reason is cut to 1000 characters")
    func longReason() {
        let reason = String(repeating: "é", count: 5_000)
        let message = DeadLetters.message(for: original, reason: reason, service: "s", consumer: "c")
        #expect(message.headers.string(DeadLetters.reasonHeader) == String(repeating: "é", count: 1_000))
    }

    @Test("a value over 64 KiB is cut to its first 64 KiB and the header gives the original size")
    func oversizedValue() {
        let value = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0) }
        let big = KafkaMessage(topic: "orders", partition: 1, offset: 42, key: Array("k".utf8), value: value, headers: original.headers)
        let message = DeadLetters.message(for: big, reason: "too large", service: "inventory", consumer: "saga")
        #expect(message.value == Array(value.prefix(DeadLetters.maxValueBytes)))
        #expect(message.headers.string(DeadLetters.truncatedHeader) == "1048576")
        #expect(message.headers.string(DeadLetters.reasonHeader) == "too large")
        #expect(message.headers.string(DeadLetters.sourceOffsetHeader) == "42")
        #expect(message.headers.string(DeadLetters.sourcePartitionHeader) == "1")
        #expect(message.headers.string(DeadLetters.keyTruncatedHeader) == nil)
        #expect(message.headers.string(DeadLetters.headersDroppedHeader) == nil)
        // Exactly 64 KiB is not cut.
        let exact = KafkaMessage(topic: "orders", partition: 1, offset: 42, key: nil, value: Array(value.prefix(DeadLetters.maxValueBytes)), headers: [])
        #expect(DeadLetters.message(for: exact, reason: "r", service: "s", consumer: "c").headers.string(DeadLetters.truncatedHeader) == nil)
    }

    @Test("whatever the original's key, value and headers, the dead letter fits well under the producer's 1,000,000-byte default")
    func alwaysFits() {
        let huge = [UInt8](repeating: 0x41, count: 2_000_000)
        let headers = (0..<300).map { KafkaHeader(name: "h\($0)", value: [UInt8](repeating: 0x42, count: 10_000)) }
        let worst = KafkaMessage(topic: String(repeating: "t", count: 249), partition: 0, offset: .max, key: huge, value: huge, headers: headers)
        let message = DeadLetters.message(for: worst, reason: String(repeating: "𝄞", count: 5_000), service: "inventory", consumer: "saga")
        let size = (message.key?.count ?? 0) + (message.value?.count ?? 0)
            + message.headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
        #expect(size < 100_000, "\(size) bytes")
        #expect(message.key == Array(huge.prefix(DeadLetters.maxKeyBytes)))
        #expect(message.headers.string(DeadLetters.keyTruncatedHeader) == "2000000")
        #expect(message.headers.string(DeadLetters.truncatedHeader) == "2000000")
        // The original headers are kept in order up to the bound; the rest are counted.
        #expect(Array(message.headers.prefix(1)) == [headers[0]])
        let kept = message.headers.filter { $0.name.hasPrefix("h") }.count
        #expect(kept == 1 && message.headers.string(DeadLetters.headersDroppedHeader) == "299", "\(kept) kept")
    }
}
