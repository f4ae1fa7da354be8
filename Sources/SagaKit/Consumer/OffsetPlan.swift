import KafkaClient

/// Offsets to store and positions to seek to after a batch, given which of its messages are done.
///
/// Within a partition messages are handled in order, so a partition's done messages form a prefix: its offset
/// to store is the last done offset + 1, and, if anything after it is not done, the first not-done offset is
/// where to seek so that it is delivered again, in order. Public for consumers that are not `EventConsumer`s
/// (the tracker's dead-letter projection).
public struct OffsetPlan: Equatable, Sendable {
    public var store: [KafkaTopicPartitionOffset] = []
    public var seek: [KafkaTopicPartitionOffset] = []

    public init(messages: [KafkaMessage], done: (Int) -> Bool) {
        var lastDone: [KafkaTopicPartition: Int64] = [:]
        var firstPending: [KafkaTopicPartition: Int64] = [:]
        var order: [KafkaTopicPartition] = []
        for (index, message) in messages.enumerated() {
            let tp = message.topicPartition
            if lastDone[tp] == nil && firstPending[tp] == nil { order.append(tp) }
            if firstPending[tp] != nil { continue }
            if done(index) {
                lastDone[tp] = message.offset
            } else {
                firstPending[tp] = message.offset
            }
        }
        for tp in order {
            if let offset = lastDone[tp] { store.append(KafkaTopicPartitionOffset(topic: tp.topic, partition: tp.partition, offset: offset + 1)) }
            if let offset = firstPending[tp] { seek.append(KafkaTopicPartitionOffset(topic: tp.topic, partition: tp.partition, offset: offset)) }
        }
    }
}
