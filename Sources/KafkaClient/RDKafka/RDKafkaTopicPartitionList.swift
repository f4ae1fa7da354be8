import CRdKafka

/// Conversions between Swift values and `rd_kafka_topic_partition_list_t`.
enum RDKafkaTopicPartitionList {
    /// Creates a list the caller must destroy with `rd_kafka_topic_partition_list_destroy`.
    static func make(_ offsets: [KafkaTopicPartitionOffset]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for item in offsets {
            let element = rd_kafka_topic_partition_list_add(list, item.topic, item.partition)!
            element.pointee.offset = item.offset
        }
        return list
    }

    static func make(_ partitions: [KafkaTopicPartition]) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        make(partitions.map { KafkaTopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: Int64(RD_KAFKA_OFFSET_INVALID)) })
    }

    static func elements(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [(KafkaTopicPartitionOffset, rd_kafka_resp_err_t)] {
        var result: [(KafkaTopicPartitionOffset, rd_kafka_resp_err_t)] = []
        result.reserveCapacity(Int(list.pointee.cnt))
        for i in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems[i]
            result.append((
                KafkaTopicPartitionOffset(topic: String(cString: element.topic), partition: element.partition, offset: element.offset),
                element.err
            ))
        }
        return result
    }
}
