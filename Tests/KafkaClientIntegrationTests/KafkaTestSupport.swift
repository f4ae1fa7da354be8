import Foundation
import KafkaClient
import Logging
import Synchronization
import TestSupport

/// Runs `body` with freshly created topics (unique names) and deletes them afterwards, also when `body` throws.
func withTopics<T>(
    _ logical: [String], partitions: Int32, _ body: (ScratchTopics) async throws -> T
) async throws -> T {
    let topics = try await ScratchTopics.create(logical, partitions: partitions)
    do {
        let result = try await body(topics)
        await topics.delete()
        return result
    } catch {
        await topics.delete()
        throw error
    }
}

enum Kafka {
    static var logger: Logger { TestEnvironment.quietLogger }

    static func uniqueGroup(_ label: String) -> String { "g-\(label)-\(UUID().uuidString.prefix(8).lowercased())" }

    static func producer(_ clientID: String = "test-producer") throws -> KafkaProducer {
        try KafkaProducer(configuration: TestEnvironment.kafka, clientID: clientID, logger: logger)
    }

    static func consumer(group: String, topics: [String], clientID: String = "test-consumer") async throws -> KafkaConsumer {
        let consumer = try KafkaConsumer(configuration: TestEnvironment.kafka, groupID: group, clientID: clientID, logger: logger)
        try await consumer.subscribe(topics)
        return consumer
    }

    /// Polls until `count` messages arrived (or the deadline passes) and returns them in arrival order.
    static func consume(_ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaMessage] {
        var received: [KafkaMessage] = []
        let deadline = ContinuousClock.now + timeout
        while received.count < count {
            guard ContinuousClock.now < deadline else {
                throw KafkaTestTimeout(description: "timed out after \(timeout) waiting for \(count) messages; got \(received.count)")
            }
            received += try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(200))
        }
        return received
    }

    /// Polls until the rebalance callback has assigned partitions; returns them and any messages polled meanwhile.
    static func waitForAssignment(_ consumer: KafkaConsumer, timeout: Duration = .seconds(30)) async throws -> (partitions: [KafkaTopicPartition], messages: [KafkaMessage]) {
        var messages: [KafkaMessage] = []
        let partitions = try await eventually("partitions to be assigned", timeout: timeout, every: .milliseconds(1)) { () async throws -> [KafkaTopicPartition]? in
            messages += try await consumer.poll(maxMessages: 1000, timeout: .milliseconds(200))
            let assignment = try await consumer.assignment()
            return assignment.isEmpty ? nil : assignment
        }
        return (partitions, messages)
    }

    /// Sends one message per call, awaiting each acknowledgement: every message is a batch of its own, so even a
    /// broker whose high watermark is the last batch's base offset + 1 reports it exactly.
    @discardableResult
    static func sendOneByOne(_ producer: KafkaProducer, topic: String, values: [String], partition: Int32? = nil) async throws -> [KafkaDeliveryReport] {
        var reports: [KafkaDeliveryReport] = []
        for value in values {
            reports.append(try await producer.send(KafkaOutgoingMessage(topic: topic, key: nil, value: Array(value.utf8), partition: partition)))
        }
        return reports
    }
}

extension KafkaMessage {
    var text: String? { value.map { String(decoding: $0, as: UTF8.self) } }
}

/// A flag a polling task checks, set from the test.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func stop() { flag.store(true, ordering: .relaxed) }
    var isStopped: Bool { flag.load(ordering: .relaxed) }
}

struct KafkaTestTimeout: Error, CustomStringConvertible {
    let description: String
}
