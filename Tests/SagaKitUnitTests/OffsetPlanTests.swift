import KafkaClient
@testable import SagaKit
import Testing

@Suite("OffsetPlan")
struct OffsetPlanTests {
    private func message(_ topic: String, _ partition: Int32, _ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: topic, partition: partition, offset: offset, key: nil, value: nil, headers: [])
    }

    private func position(_ topic: String, _ partition: Int32, _ offset: Int64) -> KafkaTopicPartitionOffset {
        KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: offset)
    }

    @Test("everything done: store last + 1 per partition, seek nowhere")
    func allDone() {
        let messages = [message("a", 0, 10), message("a", 0, 11), message("a", 0, 12)]
        let plan = OffsetPlan(messages: messages) { _ in true }
        #expect(plan.store == [position("a", 0, 13)])
        #expect(plan.seek.isEmpty)
    }

    @Test("nothing done: store nothing, seek to each partition's first message")
    func nothingDone() {
        let messages = [message("a", 0, 10), message("a", 1, 3), message("a", 0, 11), message("a", 1, 4)]
        let plan = OffsetPlan(messages: messages) { _ in false }
        #expect(plan.store.isEmpty)
        #expect(plan.seek == [position("a", 0, 10), position("a", 1, 3)])
    }

    @Test("a partly done partition stores last done + 1 and seeks to the first not done")
    func partlyDone() {
        let messages = [message("a", 0, 10), message("a", 0, 11), message("a", 0, 12), message("a", 0, 13)]
        let plan = OffsetPlan(messages: messages) { $0 < 2 }
        #expect(plan.store == [position("a", 0, 12)])
        #expect(plan.seek == [position("a", 0, 12)])
    }

    @Test("interleaved partitions and topics are planned separately, in order of first appearance")
    func interleaved() {
        let messages = [
            message("b", 1, 100),  // 0 done
            message("a", 0, 10),   // 1 done
            message("b", 0, 7),    // 2 not done
            message("a", 0, 11),   // 3 done
            message("b", 1, 101),  // 4 not done
            message("a", 1, 10),   // 5 done
            message("b", 0, 8),    // 6 not done
            message("b", 1, 102),  // 7 not done
        ]
        let done: Set<Int> = [0, 1, 3, 5]
        let plan = OffsetPlan(messages: messages) { done.contains($0) }
        #expect(plan.store == [position("b", 1, 101), position("a", 0, 12), position("a", 1, 11)])
        #expect(plan.seek == [position("b", 1, 101), position("b", 0, 7)])
    }

    @Test("a message marked done after a pending one in its partition is neither stored nor skipped")
    func doneAfterPending() {
        let messages = [message("a", 0, 5), message("a", 0, 6), message("a", 0, 7), message("a", 1, 1)]
        let plan = OffsetPlan(messages: messages) { $0 != 1 }
        #expect(plan.store == [position("a", 0, 6), position("a", 1, 2)])
        #expect(plan.seek == [position("a", 0, 6)])
    }

    @Test("the consumer's failure rule (done before the first failing index) across partitions")
    func unfinishedFrom() {
        let messages = [message("a", 0, 1), message("a", 1, 1), message("a", 0, 2), message("a", 1, 2), message("a", 2, 9)]
        let plan = OffsetPlan(messages: messages) { $0 < 2 }
        #expect(plan.store == [position("a", 0, 2), position("a", 1, 2)])
        #expect(plan.seek == [position("a", 0, 2), position("a", 1, 2), position("a", 2, 9)])
    }

    @Test("an empty batch plans nothing")
    func emptyBatch() {
        #expect(OffsetPlan(messages: []) { _ in true } == OffsetPlan(messages: []) { _ in false })
        #expect(OffsetPlan(messages: []) { _ in true }.store.isEmpty)
        #expect(OffsetPlan(messages: []) { _ in true }.seek.isEmpty)
    }

    @Test("the done predicate is asked about batch indices, not offsets")
    func indices() {
        var asked: [Int] = []
        let messages = [message("a", 0, 40), message("a", 0, 41), message("a", 1, 7)]
        _ = OffsetPlan(messages: messages) { asked.append($0); return true }
        #expect(asked == [0, 1, 2])
    }
}
