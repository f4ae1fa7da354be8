import Foundation
import KafkaClient
import Testing
import TestSupport

/// Producer → broker → consumer group, checked against kcat where an independent view matters.
@Suite("KafkaClient messaging", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct KafkaMessagingTests {
    @Test("key, value and headers (nil value, empty value, repeated name) survive the round trip; so do a message without headers, a tombstone and kcat's message")
    func roundTrip() async throws {
        try await withTopics(["rt"], partitions: 1) { topics in
            let topic = topics("rt")
            let producer = try Kafka.producer("rt")
            let headers = [
                KafkaHeader(name: "trace", string: "abc-123"),
                KafkaHeader(name: "nullable", value: nil),
                KafkaHeader(name: "dup", string: "first"),
                KafkaHeader(name: "empty", value: []),
                KafkaHeader(name: "dup", string: "second"),
                KafkaHeader(name: "binary", value: [0, 255, 10, 13]),
            ]
            let value = Array("héllo wörld ✓".utf8)
            let first = try await producer.send(KafkaOutgoingMessage(topic: topic, key: Array("order-1".utf8), value: value, headers: headers))
            let plain = try await producer.send(KafkaOutgoingMessage(topic: topic, key: nil, value: [0, 1, 2, 255]))
            let tombstone = try await producer.send(KafkaOutgoingMessage(topic: topic, key: Array("order-1".utf8), value: nil))
            try await KafkaOracle.produce(topic, key: "from-kcat", value: "written by kcat", headers: ["origin": "kcat"])
            #expect(first.topic == topic)
            #expect([first.partition, plain.partition, tombstone.partition] == [0, 0, 0])
            #expect([first.offset, plain.offset, tombstone.offset] == [0, 1, 2])

            let consumer = try await Kafka.consumer(group: Kafka.uniqueGroup("rt"), topics: [topic])
            let messages = try await Kafka.consume(consumer, count: 4)
            await consumer.close()
            await producer.close()

            try #require(messages.count == 4)
            #expect(messages.map(\.offset) == [0, 1, 2, 3])
            #expect(messages.allSatisfy { $0.topic == topic && $0.partition == 0 })

            let withHeaders = messages[0]
            #expect(withHeaders.keyString == "order-1")
            #expect(withHeaders.value == value)
            #expect(withHeaders.headers == headers)
            #expect(withHeaders.headers.filter { $0.name == "nullable" }.map(\.value) == [nil])
            #expect(withHeaders.headers.filter { $0.name == "empty" }.map(\.value) == [[]])
            #expect(withHeaders.headers.filter { $0.name == "dup" }.map(\.stringValue) == ["first", "second"])
            #expect(withHeaders.headers.string("dup") == "second")
            let stamp = try #require(withHeaders.timestampMilliseconds)
            #expect(abs(Double(stamp) / 1000 - Date().timeIntervalSince1970) < 120)

            #expect(messages[1].key == nil)
            #expect(messages[1].value == [0, 1, 2, 255])
            #expect(messages[1].headers.isEmpty)

            #expect(messages[2].keyString == "order-1")
            #expect(messages[2].value == nil)

            #expect(messages[3].keyString == "from-kcat")
            #expect(messages[3].text == "written by kcat")
            #expect(messages[3].headers == [KafkaHeader(name: "origin", string: "kcat")])
        }
    }

    @Test("a batch of 1000 messages with one key lands on one partition and arrives in order")
    func batchOrder() async throws {
        try await withTopics(["batch"], partitions: 3) { topics in
            let topic = topics("batch")
            let producer = try Kafka.producer("batch")
            let values = (0..<1000).map { "message-\($0)" }
            let outcomes = await producer.send(values.map {
                KafkaOutgoingMessage(topic: topic, key: Array("one-key".utf8), value: Array($0.utf8))
            })
            #expect(producer.outstandingCount == 0)
            await producer.close()
            let reports = try outcomes.map { try $0.get() }
            #expect(reports.count == 1000)
            let partitions = Set(reports.map(\.partition))
            #expect(partitions.count == 1)
            #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.offset + 1 == $1.offset }, "delivery offsets follow the batch order")

            // What the broker holds, read by an independent client.
            let onBroker = try await KafkaOracle.waitForMessages(topic, count: 1000)
            #expect(onBroker.map(\.payload) == values)
            #expect(onBroker.map(\.offset) == reports.map(\.offset))

            let consumer = try await Kafka.consumer(group: Kafka.uniqueGroup("batch"), topics: [topic])
            let received = try await Kafka.consume(consumer, count: 1000)
            await consumer.close()
            #expect(received.count == 1000)
            #expect(received.map(\.text) == values)
            #expect(Set(received.map(\.partition)) == partitions)
        }
    }

    @Test("a paused partition delivers nothing while its messages exist, and delivers them after resume")
    func pauseAndResume() async throws {
        try await withTopics(["pause"], partitions: 2) { topics in
            let topic = topics("pause")
            let paused = KafkaTopicPartition(topic: topic, partition: 0)
            let running = KafkaTopicPartition(topic: topic, partition: 1)
            let consumer = try await Kafka.consumer(group: Kafka.uniqueGroup("pause"), topics: [topic])
            let assigned = try await Kafka.waitForAssignment(consumer)
            #expect(Set(assigned.partitions) == [paused, running])
            #expect(assigned.messages.isEmpty)

            try await consumer.pause([paused])
            let producer = try Kafka.producer("pause")
            let pausedValues = (0..<5).map { "paused-\($0)" }
            let runningValues = (0..<5).map { "running-\($0)" }
            // The paused partition's messages are written first.
            try await Kafka.sendOneByOne(producer, topic: topic, values: pausedValues, partition: 0)
            try await Kafka.sendOneByOne(producer, topic: topic, values: runningValues, partition: 1)
            await producer.close()
            let onBroker = try await KafkaOracle.waitForMessages(topic, count: 10)
            #expect(onBroker.filter { $0.partition == 0 }.map(\.payload) == pausedValues)

            var received = try await Kafka.consume(consumer, count: 5)
            // The running partition's messages, written later, have all arrived; give the paused one a further
            // second of polling in which it must stay silent.
            let quietUntil = ContinuousClock.now + .seconds(1)
            while ContinuousClock.now < quietUntil {
                received += try await consumer.poll(maxMessages: 100, timeout: .milliseconds(100))
            }
            #expect(received.filter { $0.partition == 0 }.isEmpty)
            #expect(received.filter { $0.partition == 1 }.map(\.text) == runningValues)

            try await consumer.resume([paused])
            let resumed = try await Kafka.consume(consumer, count: 5)
            await consumer.close()
            #expect(resumed.map(\.partition) == Array(repeating: 0, count: 5))
            #expect(resumed.map(\.text) == pausedValues)
        }
    }
}
