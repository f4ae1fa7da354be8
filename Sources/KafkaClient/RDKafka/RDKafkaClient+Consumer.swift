import CRdKafka
import Logging

/// What one `rd_kafka_consumer_poll` returned.
enum RDKafkaConsumerEvent {
    case message(KafkaMessage)
    /// The end of a partition was reached (only when `enable.partition.eof` is on).
    case partitionEOF
    /// A consume error: librdkafka's code, its text (with the topic and partition when known) and its name.
    case error(code: Int32, text: String, name: String)
}

/// The consumer's calls. All but `makeConsumer` block or touch consumer state: make them from the consumer's
/// own executor.
extension RDKafkaClient {
    /// Creates a consumer whose rebalances the application handles, served from the consumer queue (errors, logs
    /// and rebalances arrive inside `consumerPoll`).
    static func makeConsumer(properties: [(String, String)], logger: Logger) throws -> RDKafkaClient {
        let client = try RDKafkaClient(kind: .consumer, properties: properties, logger: logger) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
        }
        rd_kafka_poll_set_consumer(client.handle)
        return client
    }

    func subscribe(_ topics: [String]) throws {
        let partitions = topics.map { KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) }
        _ = try call(RDKafkaTopicPartitionList.make(partitions), "subscribe") { rd_kafka_subscribe($0, $1) }
    }

    /// Waits up to the timeout for one message or event; nil when none came.
    func consumerPoll(timeoutMilliseconds: Int32) -> RDKafkaConsumerEvent? {
        guard let raw = rd_kafka_consumer_poll(handle, timeoutMilliseconds) else { return nil }
        // A polled message must be destroyed, or later polls block forever.
        defer { rd_kafka_message_destroy(raw) }
        let err = raw.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            return .message(Self.copy(raw))
        } else if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
            return .partitionEOF
        }
        var text = String(cString: rd_kafka_err2str(err))
        if let rkt = raw.pointee.rkt {
            text += " (\(String(cString: rd_kafka_topic_name(rkt)))[\(raw.pointee.partition)])"
        }
        return .error(code: err.rawValue, text: text, name: String(cString: rd_kafka_err2name(err)))
    }

    /// Stores offsets for the next commit. Returns the partitions whose offset was not stored, with librdkafka's
    /// reason (partitions this member no longer owns); an error for the whole call while no partition is
    /// assigned (`_STATE`) is no failure.
    func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) -> [(KafkaTopicPartition, String)] {
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(handle, list)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__STATE else { return [] }
        return RDKafkaTopicPartitionList.elements(list).compactMap { item, itemErr in
            itemErr == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : (item.topicPartition, String(cString: rd_kafka_err2str(itemErr)))
        }
    }

    /// Commits the stored offsets; nil when they were committed or there was nothing to commit.
    func commitStoredOffsets(synchronously: Bool, context: String? = nil) -> KafkaError? {
        let err = rd_kafka_commit(handle, nil, synchronously ? 0 : 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else { return KafkaError(err, context: context) }
        return nil
    }

    /// Moves the fetch positions. A partition revoked meanwhile is skipped; any other per-partition error throws.
    func seek(_ positions: [KafkaTopicPartitionOffset]) throws {
        let list = RDKafkaTopicPartitionList.make(positions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(handle, list, 5000) {
            throw KafkaError(consuming: error, context: "seek")
        }
        for (item, err) in RDKafkaTopicPartitionList.elements(list) where err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // A partition revoked meanwhile is not ours to seek; anything else means the redelivery is not set up.
            if err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && err != RD_KAFKA_RESP_ERR__STATE {
                throw KafkaError(err, context: "seek \(item.topicPartition)")
            }
        }
    }

    func assign(_ positions: [KafkaTopicPartitionOffset]) throws {
        _ = try call(RDKafkaTopicPartitionList.make(positions), "assign") { rd_kafka_assign($0, $1) }
    }

    /// The next offset this member will read on each of these partitions (negative when not yet known).
    func positions(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartitionOffset] {
        try call(RDKafkaTopicPartitionList.make(partitions), "position") { rd_kafka_position($0, $1) }
    }

    func pause(_ partitions: [KafkaTopicPartition]) throws {
        _ = try call(RDKafkaTopicPartitionList.make(partitions), "pause") { rd_kafka_pause_partitions($0, $1) }
    }

    func resume(_ partitions: [KafkaTopicPartition]) throws {
        _ = try call(RDKafkaTopicPartitionList.make(partitions), "resume") { rd_kafka_resume_partitions($0, $1) }
    }

    func assignment() throws -> [KafkaTopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        let err = rd_kafka_assignment(handle, &list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { throw KafkaError(err, context: "assignment") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return RDKafkaTopicPartitionList.elements(list).map { $0.0.topicPartition }
    }

    /// The group's committed offsets for these partitions, from the broker.
    func committed(_ partitions: [KafkaTopicPartition], timeoutMilliseconds: Int32) throws -> [KafkaTopicPartitionOffset] {
        try call(RDKafkaTopicPartitionList.make(partitions), "committed") { rd_kafka_committed($0, $1, timeoutMilliseconds) }
    }

    /// Leaves the group. Blocks while the leave and any final rebalance complete.
    func consumerClose() -> KafkaError? {
        let err = rd_kafka_consumer_close(handle)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err)
    }

    /// Makes one call that takes a partition list, destroys the list, and throws librdkafka's error (with
    /// `context`) or returns the list's entries as the call left them.
    private func call(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, _ context: String,
        _ body: (OpaquePointer, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> rd_kafka_resp_err_t
    ) throws -> [KafkaTopicPartitionOffset] {
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = body(handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: context) }
        return RDKafkaTopicPartitionList.elements(list).map(\.0)
    }

    private static func copy(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaMessage {
        let m = raw.pointee
        let topic = String(cString: rd_kafka_topic_name(m.rkt))
        let key: [UInt8]? = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        let value: [UInt8]? = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer? = nil
        if rd_kafka_message_headers(raw, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var valuePointer: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(hdrs, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let headerValue = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: headerValue))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
        return KafkaMessage(
            topic: topic, partition: m.partition, offset: m.offset, key: key, value: value, headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}

/// Runs inside `rd_kafka_consumer_poll` on the consumer's thread. Registering it makes assignment our job.
private let rdKafkaRebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, partitions, _ in
    guard let rk, let context = RDKafkaClientContext.from(rk) else { return }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    let changed = partitions.map { RDKafkaTopicPartitionList.elements($0).map { $0.0.topicPartition } } ?? []
    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        changeAssignment(rk, partitions, assign: true, cooperative: cooperative, context)
        context.rebalance.record(.assigned(changed))
        context.logger.notice("partitions assigned: \(changed.map(\.description).joined(separator: ", "))")
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        // Hand over what was finished: commit the stored offsets before the partitions leave.
        if rd_kafka_assignment_lost(rk) == 0 {
            let commitErr = rd_kafka_commit(rk, nil, 0)
            if commitErr != RD_KAFKA_RESP_ERR_NO_ERROR && commitErr != RD_KAFKA_RESP_ERR__NO_OFFSET {
                context.logger.warning("commit before revoke failed: \(String(cString: rd_kafka_err2str(commitErr)))")
            }
        }
        changeAssignment(rk, partitions, assign: false, cooperative: cooperative, context)
        context.rebalance.record(.revoked(changed))
        context.logger.notice("partitions revoked: \(changed.map(\.description).joined(separator: ", "))")
    default:
        context.logger.error("rebalance error: \(String(cString: rd_kafka_err2str(err)))")
        rd_kafka_assign(rk, nil)
        context.rebalance.record(.revoked(changed))
    }
}

/// Takes up (`assign`) or gives back the rebalanced partitions: incrementally under the cooperative protocol; under
/// the eager one, by replacing the whole assignment (with nothing, when giving back).
private func changeAssignment(
    _ rk: OpaquePointer, _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, assign: Bool, cooperative: Bool,
    _ context: RDKafkaClientContext
) {
    guard cooperative else {
        rd_kafka_assign(rk, assign ? partitions : nil)
        return
    }
    if let error = assign ? rd_kafka_incremental_assign(rk, partitions) : rd_kafka_incremental_unassign(rk, partitions) {
        context.logger.error("incremental \(assign ? "assign" : "unassign") failed: \(KafkaError(consuming: error).message)")
    }
}
