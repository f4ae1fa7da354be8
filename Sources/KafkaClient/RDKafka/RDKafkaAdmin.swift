import CRdKafka
import Foundation

/// librdkafka's admin API and metadata requests for `KafkaAdmin`. Every call blocks on a request to the broker:
/// call it from a thread the caller owns.
struct RDKafkaAdmin {
    let client: RDKafkaClient

    // MARK: - Topics

    /// Creates topics; one that already exists is left as it is.
    func createTopics(_ names: [String], partitions: Int32, replicationFactor: Int32, timeoutMilliseconds: Int32) throws {
        let errstr = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
        defer { errstr.deallocate() }
        let newTopics = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: names.count)
        newTopics.initialize(repeating: nil, count: names.count)
        defer {
            for i in 0..<names.count where newTopics[i] != nil { rd_kafka_NewTopic_destroy(newTopics[i]) }
            newTopics.deallocate()
        }
        for (i, name) in names.enumerated() {
            guard let topic = rd_kafka_NewTopic_new(name, partitions, replicationFactor, errstr, 512) else {
                throw KafkaError(code: .admin, message: "topic \(name): \(String(cString: errstr))")
            }
            newTopics[i] = topic
        }
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeoutMilliseconds)
        defer { call.destroy() }
        rd_kafka_CreateTopics(client.handle, newTopics, names.count, call.options, call.queue)
        let event = try call.wait()
        guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
        var count = 0
        let topics = rd_kafka_CreateTopics_result_topics(result, &count)
        try Self.checkTopicResults(topics, count: count, except: RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, action: "create")
    }

    /// Deletes topics; one that does not exist is no error.
    func deleteTopics(_ names: [String], timeoutMilliseconds: Int32) throws {
        let deletes = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: names.count)
        for (i, name) in names.enumerated() { (deletes + i).initialize(to: rd_kafka_DeleteTopic_new(name)) }
        defer {
            for i in 0..<names.count { rd_kafka_DeleteTopic_destroy(deletes[i]) }
            deletes.deallocate()
        }
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeoutMilliseconds)
        defer { call.destroy() }
        rd_kafka_DeleteTopics(client.handle, deletes, names.count, call.options, call.queue)
        let event = try call.wait()
        guard let result = rd_kafka_event_DeleteTopics_result(event) else { return }
        var count = 0
        let topics = rd_kafka_DeleteTopics_result_topics(result, &count)
        try Self.checkTopicResults(topics, count: count, except: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, action: "delete")
    }

    /// Throws for the first topic whose result is an error other than `except`, the one the caller treats as done
    /// (created: it exists already; deleted: it did not exist).
    private static func checkTopicResults(
        _ topics: UnsafeMutablePointer<OpaquePointer?>?, count: Int, except: rd_kafka_resp_err_t, action: String
    ) throws {
        for i in 0..<count {
            guard let topic = topics?[i] else { continue }
            let err = rd_kafka_topic_result_error(topic)
            guard err != RD_KAFKA_RESP_ERR_NO_ERROR, err != except else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topic))
            let message = rd_kafka_topic_result_error_string(topic).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
            throw KafkaError(code: .admin, message: "\(action) topic \(name): \(message)", rdKafkaCode: err.rawValue)
        }
    }

    /// One topic of the cluster's metadata: nil partitions when the broker reported an error for it.
    struct TopicMetadata {
        var name: String
        var partitions: [Int32]?
    }

    /// Every topic of the cluster's metadata, with its partition ids in the broker's order.
    func topics(timeoutMilliseconds: Int32) throws -> [TopicMetadata] {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(client.handle, 1, nil, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err, context: "metadata") }
        defer { rd_kafka_metadata_destroy(metadata) }
        return (0..<Int(metadata.pointee.topic_cnt)).map { i in
            let t = metadata.pointee.topics[i]
            let partitions = t.err == RD_KAFKA_RESP_ERR_NO_ERROR ? (0..<Int(t.partition_cnt)).map { t.partitions[$0].id } : nil
            return TopicMetadata(name: String(cString: t.topic), partitions: partitions)
        }
    }

    /// For each partition, the earliest offset whose timestamp (milliseconds) is at or after `millis`; negative
    /// when no message is that recent.
    func offsetsForTimes(_ millis: Int64, topic: String, partitions: [Int32], timeoutMilliseconds: Int32) throws -> [KafkaTopicPartitionOffset] {
        let list = RDKafkaTopicPartitionList.make(partitions.map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: millis) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_for_times(client.handle, list, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "offsets for times") }
        return try RDKafkaTopicPartitionList.elements(list).map { item, itemErr in
            guard itemErr == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(itemErr, context: "offsets for times \(item.topicPartition)") }
            return item
        }
    }

    // MARK: - Consumer groups

    /// The group's state and members; a group nobody has joined reports state `dead` or `empty` and no members.
    func describeGroup(_ group: String, timeoutMilliseconds: Int32) throws -> KafkaGroupDescription {
        var description = KafkaGroupDescription(groupID: group, state: "unknown", memberCount: 0)
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeoutMilliseconds)
        defer { call.destroy() }
        let name = strdup(group)
        defer { free(name) }
        var names: UnsafePointer<CChar>? = UnsafePointer(name)
        rd_kafka_DescribeConsumerGroups(client.handle, &names, 1, call.options, call.queue)
        let event = try call.wait()
        guard let result = rd_kafka_event_DescribeConsumerGroups_result(event) else { return description }
        var count = 0
        let groups = rd_kafka_DescribeConsumerGroups_result_groups(result, &count)
        guard count > 0, let groups, let group = groups[0] else { return description }
        if let error = rd_kafka_ConsumerGroupDescription_error(group), rd_kafka_error_code(error) != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND {
            throw KafkaError(code: .admin, message: "describe group: \(String(cString: rd_kafka_error_string(error)))",
                             rdKafkaCode: rd_kafka_error_code(error).rawValue)
        }
        let state = rd_kafka_ConsumerGroupDescription_state(group)
        description.state = String(cString: rd_kafka_consumer_group_state_name(state)).lowercased()
        description.memberCount = Int(rd_kafka_ConsumerGroupDescription_member_count(group))
        return description
    }

    /// Deletes a group with no members and its committed offsets; a group that does not exist is no error.
    func deleteGroup(_ group: String, timeoutMilliseconds: Int32) throws {
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_DELETEGROUPS, timeoutMilliseconds)
        defer { call.destroy() }
        var request: OpaquePointer? = rd_kafka_DeleteGroup_new(group)
        defer { rd_kafka_DeleteGroup_destroy(request) }
        rd_kafka_DeleteGroups(client.handle, &request, 1, call.options, call.queue)
        let event = try call.wait()
        guard let result = rd_kafka_event_DeleteGroups_result(event) else { return }
        var count = 0
        let groups = rd_kafka_DeleteGroups_result_groups(result, &count)
        guard count > 0, let groups, let groupResult = groups[0], let error = rd_kafka_group_result_error(groupResult) else { return }
        let code = rd_kafka_error_code(error)
        if code != RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND {
            throw KafkaError(code: .admin, message: "delete group \(group): \(String(cString: rd_kafka_error_string(error)))", rdKafkaCode: code.rawValue)
        }
    }

    /// The group's committed offsets for these partitions, as the broker returned them: nil where the group has
    /// no commit or the partition reported an error. Partitions the broker left out are not in the result.
    func committedOffsets(group: String, partitions: [KafkaTopicPartition], timeoutMilliseconds: Int32) throws -> [KafkaTopicPartition: Int64?] {
        var result: [KafkaTopicPartition: Int64?] = [:]
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeoutMilliseconds)
        defer { call.destroy() }
        var request: OpaquePointer? = rd_kafka_ListConsumerGroupOffsets_new(group, list)
        rd_kafka_ListConsumerGroupOffsets(client.handle, &request, 1, call.options, call.queue)
        rd_kafka_ListConsumerGroupOffsets_destroy(request)
        let event = try call.wait()
        guard let res = rd_kafka_event_ListConsumerGroupOffsets_result(event) else {
            throw KafkaError(code: .admin, message: "list group offsets: no result")
        }
        var count = 0
        let groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &count)
        guard count > 0, let groups, let groupResult = groups[0] else {
            throw KafkaError(code: .admin, message: "list group offsets: no result")
        }
        if let error = rd_kafka_group_result_error(groupResult) {
            throw KafkaError(code: .admin, message: "list group offsets: \(String(cString: rd_kafka_error_string(error)))")
        }
        if let offsets = rd_kafka_group_result_partitions(groupResult) {
            for (item, err) in RDKafkaTopicPartitionList.elements(offsets) {
                result[item.topicPartition] = (err == RD_KAFKA_RESP_ERR_NO_ERROR && item.offset >= 0) ? item.offset : nil
            }
        }
        return result
    }

    /// Sets a group's committed offsets. The broker refuses while the group has members.
    func alterCommittedOffsets(group: String, _ offsets: [KafkaTopicPartitionOffset], timeoutMilliseconds: Int32) throws {
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeoutMilliseconds)
        defer { call.destroy() }
        var request: OpaquePointer? = rd_kafka_AlterConsumerGroupOffsets_new(group, list)
        rd_kafka_AlterConsumerGroupOffsets(client.handle, &request, 1, call.options, call.queue)
        rd_kafka_AlterConsumerGroupOffsets_destroy(request)
        let event = try call.wait()
        guard let res = rd_kafka_event_AlterConsumerGroupOffsets_result(event) else { return }
        var count = 0
        let groups = rd_kafka_AlterConsumerGroupOffsets_result_groups(res, &count)
        guard count > 0, let groups, let groupResult = groups[0] else { return }
        if let error = rd_kafka_group_result_error(groupResult) {
            throw KafkaError(code: .admin, message: "alter group offsets: \(String(cString: rd_kafka_error_string(error)))")
        }
        if let partitions = rd_kafka_group_result_partitions(groupResult) {
            for (item, err) in RDKafkaTopicPartitionList.elements(partitions) where err != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(err, context: "alter group offsets \(item.topicPartition)")
            }
        }
    }
}

/// One admin request: its options, a private queue for the result, and the result event once it arrives.
private struct AdminCall {
    let options: OpaquePointer?
    let queue: OpaquePointer?
    private let timeout: Int32
    private var event: OpaquePointer?

    init(_ handle: OpaquePointer, _ op: rd_kafka_admin_op_t, _ timeout: Int32) {
        queue = rd_kafka_queue_new(handle)
        options = rd_kafka_AdminOptions_new(handle, op)
        self.timeout = timeout
        let errstr = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
        defer { errstr.deallocate() }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout, errstr, 512)
    }

    /// Blocks until the result event arrives; throws the request-level error, if any. The event is destroyed
    /// by `destroy`.
    mutating func wait() throws -> OpaquePointer {
        guard let event = rd_kafka_queue_poll(queue, timeout + 5000) else {
            throw KafkaError(code: .timeout, message: "admin request timed out")
        }
        self.event = event
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
            throw KafkaError(code: .admin, message: text, rdKafkaCode: err.rawValue)
        }
        return event
    }

    func destroy() {
        if let event { rd_kafka_event_destroy(event) }
        rd_kafka_AdminOptions_destroy(options)
        rd_kafka_queue_destroy(queue)
    }
}
