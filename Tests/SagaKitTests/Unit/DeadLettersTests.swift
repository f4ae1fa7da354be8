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
        let message = DeadLetters.message(for: original, reason: "bad", consumer: "payments")
        #expect(message.topic == "run1-orders.dlq")
        #expect(message.key == original.key)
        #expect(message.value == original.value)
        #expect(message.partition == nil)
    }

    @Test("keeps the original headers first, in order, including repeats and null values")
    func keepsHeaders() {
        let message = DeadLetters.message(for: original, reason: "bad", consumer: "payments")
        #expect(Array(message.headers.prefix(original.headers.count)) == original.headers)
    }

    @Test("adds reason, source topic, partition, offset, consumer and time headers")
    func addsHeaders() {
        let at = unitInstant
        let message = DeadLetters.message(for: original, reason: "missing event_id", consumer: "payments", at: at)
        let added = Array(message.headers.dropFirst(original.headers.count))
        #expect(added == [
            KafkaHeader(name: "sagakit-dlq-reason", string: "missing event_id"),
            KafkaHeader(name: "sagakit-dlq-source-topic", string: "run1-orders"),
            KafkaHeader(name: "sagakit-dlq-source-partition", string: "3"),
            KafkaHeader(name: "sagakit-dlq-source-offset", string: "1234567890123"),
            KafkaHeader(name: "sagakit-dlq-consumer", string: "payments"),
            KafkaHeader(name: "sagakit-dlq-time", string: "2024-05-06T07:08:09.123456Z"),
        ])
        #expect(message.headers.string(DeadLetters.reasonHeader) == "missing event_id")
    }

    @Test("a tombstone without a key keeps its nil key and value")
    func tombstone() {
        let tombstone = KafkaMessage(topic: "t", partition: 0, offset: 0, key: nil, value: nil, headers: [])
        let message = DeadLetters.message(for: tombstone, reason: "empty", consumer: "c")
        #expect(message.key == nil)
        #expect(message.value == nil)
        #expect(message.topic == "t.dlq")
        #expect(message.headers.count == 6)
    }

    @Test("a long reason is cut to 1000 characters")
    func longReason() {
        let reason = String(repeating: "é", count: 5_000)
        let message = DeadLetters.message(for: original, reason: reason, consumer: "c")
        #expect(message.headers.string(DeadLetters.reasonHeader) == String(repeating: "é", count: 1_000))
    }
}
