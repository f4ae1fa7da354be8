import Foundation
import KafkaClient
import Testing
import TestSupport

/// Offsets move only when the application says so, and survive the hand-over to the next group member.
@Suite("KafkaClient offsets", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct KafkaOffsetTests {
    @Test("only stored offsets are committed: after close a new member resumes exactly after the stored part")
    func storedOffsetsOnly() async throws {
        try await withTopics(["stored"], partitions: 1) { topics in
            let topic = topics("stored")
            let partition = KafkaTopicPartition(topic: topic, partition: 0)
            let group = Kafka.uniqueGroup("stored")
            let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: Kafka.logger)
            let producer = try Kafka.producer("stored")
            let values = (0..<10).map { "m\($0)" }
            let outcomes = await producer.send(values.map { KafkaOutgoingMessage(topic: topic, key: nil, value: Array($0.utf8)) })
            _ = try outcomes.map { try $0.get() }
            await producer.close()

            let a = try await Kafka.consumer(group: group, topics: [topic], clientID: "member-a")
            let consumed = try await Kafka.consume(a, count: 10)
            #expect(consumed.map(\.offset) == Array(0..<10))
            #expect(consumed.map(\.text) == values)

            // Consuming stores nothing by itself: a commit now has nothing to send.
            try await a.commit(synchronously: true)
            #expect(try await admin.committedOffsets(group: group, topics: [topic])[partition] == .some(nil))
            let committedByA = try await a.committed([partition])
            #expect(committedByA.map(\.offset).allSatisfy { $0 < 0 }, "no commit yet, got \(committedByA)")

            // Only the first four are done. Closing commits what was stored, nothing more.
            try await a.storeOffsets([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: consumed[3].offset + 1)])
            await a.close()
            #expect(try await admin.committedOffsets(group: group, topics: [topic])[partition] == 4)

            let b = try await Kafka.consumer(group: group, topics: [topic], clientID: "member-b")
            #expect(try await b.committed([partition]).map(\.offset) == [4])
            let resumed = try await Kafka.consume(b, count: 6)
            await b.close()
            #expect(resumed.map(\.offset) == Array(4..<10))
            #expect(resumed.map(\.text) == Array(values[4...]))
            // B stored nothing, so its close moved nothing.
            #expect(try await admin.committedOffsets(group: group, topics: [topic])[partition] == 4)
            await admin.close()
        }
    }

    @Test("commit before revoke: stored but uncommitted offsets are committed when a rebalance takes partitions away")
    func commitBeforeRevoke() async throws {
        try await withTopics(["rebalance"], partitions: 3) { topics in
            let topic = topics("rebalance")
            let group = Kafka.uniqueGroup("rebalance")
            let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: Kafka.logger)
            let producer = try Kafka.producer("rebalance")
            var messages: [KafkaOutgoingMessage] = []
            for partition in Int32(0)..<3 {
                for index in 0..<4 {
                    messages.append(KafkaOutgoingMessage(topic: topic, key: nil, value: Array("p\(partition)-\(index)".utf8), partition: partition))
                }
            }
            _ = try await producer.send(messages).map { try $0.get() }
            await producer.close()

            // A alone owns every partition and reads everything; it finishes two messages per partition.
            let a = try await Kafka.consumer(group: group, topics: [topic], clientID: "member-a")
            let readByA = try await Kafka.consume(a, count: 12)
            #expect(Set(readByA.map(\.partition)) == [0, 1, 2])
            let stored = (Int32(0)..<3).map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: 2) }
            try await a.storeOffsets(stored)
            // Stored, not committed.
            #expect(try await admin.committedOffsets(group: group, topics: [topic]).values.allSatisfy { $0 == nil })
            _ = await a.takeRebalanceEvents()

            // B joins; A keeps polling so the rebalance can run its callback.
            let b = try await Kafka.consumer(group: group, topics: [topic], clientID: "member-b")
            let stop = StopFlag()
            let pollingA = Task {
                while !stop.isStopped {
                    _ = try await a.poll(maxMessages: 100, timeout: .milliseconds(100))
                }
            }
            var readByB: [KafkaMessage] = []
            let ownedByB: [KafkaTopicPartition]
            do {
                ownedByB = try await eventually("B to own partitions and read from each", timeout: .seconds(45), every: .milliseconds(1)) { () async throws -> [KafkaTopicPartition]? in
                    readByB += try await b.poll(maxMessages: 100, timeout: .milliseconds(200))
                    let assignment = try await b.assignment()
                    guard !assignment.isEmpty, Set(assignment).isSubset(of: Set(readByB.map(\.topicPartition))) else { return nil }
                    return assignment
                }
            } catch {
                stop.stop()
                try? await pollingA.value
                throw error
            }
            stop.stop()
            try await pollingA.value

            let revoked = await a.takeRebalanceEvents().flatMap { event -> [KafkaTopicPartition] in
                if case .revoked(let partitions) = event { return partitions }
                return []
            }
            #expect(!revoked.isEmpty)
            #expect(Set(ownedByB).isSubset(of: Set(revoked)), "B owns \(ownedByB), A gave up \(revoked)")
            let committed = try await admin.committedOffsets(group: group, topics: [topic])
            for partition in revoked {
                #expect(committed[partition] == 2, "committed offset of \(partition)")
            }
            // B started exactly where A stopped on every partition it took over.
            for partition in ownedByB {
                #expect(readByB.filter { $0.topicPartition == partition }.map(\.offset).min() == 2, "first offset B read on \(partition)")
            }
            await a.close()
            await b.close()
            await admin.close()
        }
    }
}
