import Foundation
import KafkaClient
import Testing
import TestSupport

@Suite("KafkaAdmin", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct KafkaAdminTests {
    private static func waitForEmptyGroup(_ admin: KafkaAdmin, _ group: String) async throws {
        try await waitUntil("group \(group) to have no members", timeout: .seconds(20), every: .milliseconds(50)) {
            try await admin.describeGroup(group).memberCount == 0
        }
    }

    @Test("createTopics is idempotent and partitions(of:) reports the count")
    func createTopics() async throws {
        let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: Kafka.logger)
        let name = "t\(UUID().uuidString.prefix(8).lowercased()).admin"
        try await admin.createTopics([name], partitions: 4)
        try await admin.createTopics([name], partitions: 4)
        // An existing topic is left as it is, whatever the request says.
        try await admin.createTopics([name], partitions: 2)
        let partitions = try await eventually("metadata for \(name)", timeout: .seconds(10)) { () async throws -> [Int32]? in
            let partitions = try await admin.partitions(of: name)
            return partitions.isEmpty ? nil : partitions
        }
        #expect(partitions == [0, 1, 2, 3])
        #expect(try await admin.topicNames().contains(name))
        #expect(try await admin.partitions(of: "t\(UUID().uuidString.prefix(8).lowercased()).missing").isEmpty)
        try await admin.deleteTopics([name])
        try await waitUntil("\(name) to be deleted", timeout: .seconds(10)) { try await admin.partitions(of: name).isEmpty }
        // Deleting a topic that does not exist is no error.
        try await admin.deleteTopics(["t\(UUID().uuidString.prefix(8).lowercased()).never"])
        await admin.close()
    }

    @Test("describeGroup shows a member while a consumer is in the group and none after it closes; lag reports committed offsets")
    func describeGroupAndLag() async throws {
        try await withTopics(["lag"], partitions: 2) { topics in
            let topic = topics("lag")
            let group = Kafka.uniqueGroup("lag")
            let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: Kafka.logger)
            #expect(try await admin.describeGroup(group).memberCount == 0)

            let producer = try Kafka.producer("lag")
            try await Kafka.sendOneByOne(producer, topic: topic, values: ["a", "b", "c"], partition: 0)
            await producer.close()

            let consumer = try await Kafka.consumer(group: group, topics: [topic])
            let consumed = try await Kafka.consume(consumer, count: 3)
            #expect(consumed.map(\.text) == ["a", "b", "c"])
            // Two of three done.
            try await consumer.storeOffsets([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 2)])
            try await consumer.commit(synchronously: true)

            let active = try await admin.describeGroup(group)
            #expect(active.groupID == group)
            #expect(active.memberCount == 1)
            #expect(active.isActive)
            #expect(active.state == "stable")

            let lag = try await admin.lag(group: group, topics: [topic])
            #expect(lag.map(\.partition.partition) == [0, 1])
            let busy = try #require(lag.first { $0.partition.partition == 0 })
            #expect(busy.committed == 2)
            #expect(busy.lowWatermark == 0)
            // One message per batch, so even Tansu's high watermark is exact here.
            #expect(busy.highWatermark == 3)
            #expect(busy.lag == 1)
            let idle = try #require(lag.first { $0.partition.partition == 1 })
            #expect(idle.committed == nil)
            #expect(idle.lag == 0)
            #expect(lag.allSatisfy { $0.lag >= 0 })

            await consumer.close()
            try await Self.waitForEmptyGroup(admin, group)
            let stopped = try await admin.describeGroup(group)
            #expect(!stopped.isActive)
            #expect(stopped.state == "empty")
            // Closing kept the committed offsets.
            #expect(try await admin.lag(group: group, topics: [topic]).first?.committed == 2)
            await admin.close()
        }
    }

    @Test("resetOffsets on a stopped group: .earliest re-reads from the start, .timestamp starts at the first message at/after it, .latest skips everything")
    func resetOffsets() async throws {
        try await withTopics(["reset"], partitions: 1) { topics in
            let topic = topics("reset")
            let group = Kafka.uniqueGroup("reset")
            let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: Kafka.logger)
            let producer = try Kafka.producer("reset")
            let old = ["old-0", "old-1", "old-2"]
            let new = ["new-0", "new-1", "new-2"]
            try await Kafka.sendOneByOne(producer, topic: topic, values: old)
            // The gap gives the two sets distinct millisecond timestamps on either side of `boundary`.
            try await Task.sleep(for: .milliseconds(50))
            let boundary = Date()
            try await Task.sleep(for: .milliseconds(50))
            try await Kafka.sendOneByOne(producer, topic: topic, values: new)

            // The group reads everything and stops.
            let first = try await Kafka.consumer(group: group, topics: [topic], clientID: "first")
            let all = try await Kafka.consume(first, count: 6)
            #expect(all.map(\.text) == old + new)
            try await first.storeOffsets([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 6)])
            await first.close()
            try await Self.waitForEmptyGroup(admin, group)
            let partition = KafkaTopicPartition(topic: topic, partition: 0)
            #expect(try await admin.committedOffsets(group: group, topics: [topic])[partition] == 6)

            // .earliest: everything again.
            let earliest = try await admin.resetOffsets(group: group, topic: topic, to: .earliest)
            #expect(earliest == [KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 0)])
            #expect(try await admin.committedOffsets(group: group, topics: [topic])[partition] == 0)
            let second = try await Kafka.consumer(group: group, topics: [topic], clientID: "second")
            let reread = try await Kafka.consume(second, count: 6)
            await second.close()
            #expect(reread.map(\.offset) == Array(0..<6))
            #expect(reread.map(\.text) == old + new)
            try await Self.waitForEmptyGroup(admin, group)

            // .timestamp: from the first message at or after the boundary.
            let fromTime = try await admin.resetOffsets(group: group, topic: topic, to: .timestamp(boundary))
            #expect(fromTime == [KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 3)])
            let third = try await Kafka.consumer(group: group, topics: [topic], clientID: "third")
            let recent = try await Kafka.consume(third, count: 3)
            await third.close()
            #expect(recent.map(\.text) == new)
            #expect(recent.first?.offset == 3)
            try await Self.waitForEmptyGroup(admin, group)

            // .latest: nothing old; only what is produced afterwards.
            let latest = try await admin.resetOffsets(group: group, topic: topic, to: .latest)
            #expect(latest == [KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: 6)])
            let fourth = try await Kafka.consumer(group: group, topics: [topic], clientID: "fourth")
            let joined = try await Kafka.waitForAssignment(fourth)
            #expect(joined.messages.isEmpty)
            try await Kafka.sendOneByOne(producer, topic: topic, values: ["after-reset"])
            let tail = try await Kafka.consume(fourth, count: 1)
            await fourth.close()
            await producer.close()
            #expect(tail.map(\.text) == ["after-reset"])
            #expect(tail.map(\.offset) == [6])
            await admin.close()
        }
    }
}
