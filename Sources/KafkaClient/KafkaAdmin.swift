import CRdKafka
import DedicatedExecutor
import Foundation
import Logging

/// Topic and consumer-group administration: create topics, read partitions and watermarks, describe a group and
/// its lag, and move a stopped group's committed offsets (for replay).
///
/// Every call blocks on a request to the broker, so the actor runs on a thread of its own.
public actor KafkaAdmin {
    private let executor: ThreadExecutor
    private let client: RDKafkaClient
    private let logger: Logger
    private var closed = false
    public var requestTimeout: Duration = .seconds(15)

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        var properties: [String: String] = ["bootstrap.servers": configuration.bootstrapServers, "client.id": "sagakit-admin"]
        properties.merge(configuration.properties) { $1 }
        executor = ThreadExecutor(name: "kafka-admin")
        self.logger = logger
        client = try RDKafkaClient(kind: .producer, properties: properties.sorted { $0.key < $1.key }, logger: logger)
    }

    public func close() {
        guard !closed else { return }
        closed = true
        client.destroy()
        executor.shutdown()
    }

    deinit {
        if !closed {
            let client = self.client
            executor.perform { client.destroy() }
        }
        executor.shutdown()
    }

    // MARK: - Topics

    /// Creates topics; one that already exists is left as it is.
    public func createTopics(_ names: [String], partitions: Int32, replicationFactor: Int32 = 1) throws {
        try checkOpen()
        guard !names.isEmpty else { return }
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
        do {
            guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
            var count = 0
            let topics = rd_kafka_CreateTopics_result_topics(result, &count)
            for i in 0..<count {
                let err = rd_kafka_topic_result_error(topics![i])
                if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                    let name = String(cString: rd_kafka_topic_result_name(topics![i]))
                    let message = rd_kafka_topic_result_error_string(topics![i]).map { String(cString: $0) } ?? ""
                    throw KafkaError(code: .admin, message: "create topic \(name): \(message)", rdKafkaCode: err.rawValue)
                }
            }
        }
    }

    public func deleteTopics(_ names: [String]) throws {
        try checkOpen()
        guard !names.isEmpty else { return }
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
        do {
            guard let result = rd_kafka_event_DeleteTopics_result(event) else { return }
            var count = 0
            let topics = rd_kafka_DeleteTopics_result_topics(result, &count)
            for i in 0..<count {
                let err = rd_kafka_topic_result_error(topics![i])
                if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART {
                    throw KafkaError(err, context: "delete topic \(String(cString: rd_kafka_topic_result_name(topics![i])))")
                }
            }
        }
    }

    /// Partition ids of a topic, from the cluster's metadata; empty when the topic does not exist.
    public func partitions(of topic: String) throws -> [Int32] {
        try checkOpen()
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(client.handle, 1, nil, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err, context: "metadata") }
        defer { rd_kafka_metadata_destroy(metadata) }
        for i in 0..<Int(metadata.pointee.topic_cnt) {
            let t = metadata.pointee.topics[i]
            guard String(cString: t.topic) == topic else { continue }
            if t.err != RD_KAFKA_RESP_ERR_NO_ERROR { return [] }
            return (0..<Int(t.partition_cnt)).map { t.partitions[$0].id }.sorted()
        }
        return []
    }

    /// Every topic name in the cluster.
    public func topicNames() throws -> [String] {
        try checkOpen()
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        let err = rd_kafka_metadata(client.handle, 1, nil, &metadata, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(err, context: "metadata") }
        defer { rd_kafka_metadata_destroy(metadata) }
        return (0..<Int(metadata.pointee.topic_cnt)).map { String(cString: metadata.pointee.topics[$0].topic) }.sorted()
    }

    /// The low and high watermarks of a partition. The high watermark is the offset the next message will get;
    /// some brokers (Tansu) report the last batch's base offset + 1 instead, so it can be short by up to a batch.
    public func watermarks(topic: String, partition: Int32) throws -> (low: Int64, high: Int64) {
        try checkOpen()
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(client.handle, topic, partition, &low, &high, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "watermarks \(topic)[\(partition)]") }
        return (low, high)
    }

    /// For each partition, the earliest offset whose timestamp is at or after `timestamp`; the high watermark
    /// when no message is that recent.
    public func offsets(atOrAfter timestamp: Date, topic: String, partitions: [Int32]) throws -> [KafkaTopicPartitionOffset] {
        try checkOpen()
        let millis = Int64((timestamp.timeIntervalSince1970 * 1000).rounded(.down))
        let list = RDKafkaTopicPartitionList.make(partitions.map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: millis) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_for_times(client.handle, list, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "offsets for times") }
        return try RDKafkaTopicPartitionList.elements(list).map { item, itemErr in
            guard itemErr == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(itemErr, context: "offsets for times \(item.topicPartition)") }
            if item.offset >= 0 { return item }
            return KafkaTopicPartitionOffset(topic: topic, partition: item.partition, offset: try watermarks(topic: topic, partition: item.partition).high)
        }
    }

    // MARK: - Consumer groups

    /// The group's state and members; a group nobody has joined reports state `dead` or `empty` and no members.
    public func describeGroup(_ group: String) throws -> KafkaGroupDescription {
        try checkOpen()
        var description = KafkaGroupDescription(groupID: group, state: "unknown", memberCount: 0)
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeoutMilliseconds)
        defer { call.destroy() }
        let name = strdup(group)
        defer { free(name) }
        var names: UnsafePointer<CChar>? = UnsafePointer(name)
        rd_kafka_DescribeConsumerGroups(client.handle, &names, 1, call.options, call.queue)
        let event = try call.wait()
        do {
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
        }
        return description
    }

    /// Deletes a group with no members and its committed offsets; a group that does not exist is no error.
    public func deleteGroup(_ group: String) throws {
        try checkOpen()
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

    /// The group's committed offsets for every partition of `topics`; nil for a partition with no commit.
    public func committedOffsets(group: String, topics: [String]) throws -> [KafkaTopicPartition: Int64?] {
        try checkOpen()
        var partitions: [KafkaTopicPartition] = []
        for topic in topics {
            partitions += try self.partitions(of: topic).map { KafkaTopicPartition(topic: topic, partition: $0) }
        }
        guard !partitions.isEmpty else { return [:] }
        var result: [KafkaTopicPartition: Int64?] = [:]
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeoutMilliseconds)
        defer { call.destroy() }
        var request: OpaquePointer? = rd_kafka_ListConsumerGroupOffsets_new(group, list)
        rd_kafka_ListConsumerGroupOffsets(client.handle, &request, 1, call.options, call.queue)
        rd_kafka_ListConsumerGroupOffsets_destroy(request)
        let event = try call.wait()
        do {
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
        }
        for partition in partitions where result[partition] == nil { result[partition] = .some(nil) }
        return result
    }

    /// Committed offset, high watermark and lag for each partition of `topics`.
    public func lag(group: String, topics: [String]) throws -> [KafkaPartitionLag] {
        let committed = try committedOffsets(group: group, topics: topics)
        return try committed.keys.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }.map { tp in
            let marks = try watermarks(topic: tp.topic, partition: tp.partition)
            let position = committed[tp]! ?? marks.low
            return KafkaPartitionLag(partition: tp, committed: committed[tp]!, lowWatermark: marks.low, highWatermark: marks.high,
                                     lag: max(0, marks.high - position))
        }
    }

    /// Sets a group's committed offsets. The broker refuses while the group has members.
    public func alterCommittedOffsets(group: String, _ offsets: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var call = AdminCall(client.handle, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeoutMilliseconds)
        defer { call.destroy() }
        var request: OpaquePointer? = rd_kafka_AlterConsumerGroupOffsets_new(group, list)
        rd_kafka_AlterConsumerGroupOffsets(client.handle, &request, 1, call.options, call.queue)
        rd_kafka_AlterConsumerGroupOffsets_destroy(request)
        let event = try call.wait()
        do {
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

    /// The offsets `resetOffsets` would set, without setting them.
    public func resolve(_ position: KafkaOffsetPosition, topic: String) throws -> [KafkaTopicPartitionOffset] {
        let partitions = try self.partitions(of: topic)
        guard !partitions.isEmpty else { throw KafkaError(code: .admin, message: "topic \(topic) does not exist") }
        switch position {
        case .earliest:
            return try partitions.map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: try watermarks(topic: topic, partition: $0).low) }
        case .latest:
            return try partitions.map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: try watermarks(topic: topic, partition: $0).high) }
        case .timestamp(let date):
            return try offsets(atOrAfter: date, topic: topic, partitions: partitions)
        case .offset(let offset):
            return try partitions.map { partition in
                let marks = try watermarks(topic: topic, partition: partition)
                return KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: min(max(offset, marks.low), marks.high))
            }
        }
    }

    /// Moves a stopped group's committed offsets on every partition of `topic`, and returns them.
    @discardableResult
    public func resetOffsets(group: String, topic: String, to position: KafkaOffsetPosition) throws -> [KafkaTopicPartitionOffset] {
        let offsets = try resolve(position, topic: topic)
        try alterCommittedOffsets(group: group, offsets)
        return offsets
    }

    // MARK: - Plumbing

    private var timeoutMilliseconds: Int32 {
        Int32(clamping: requestTimeout.components.seconds * 1000)
    }

    private func checkOpen() throws {
        if closed { throw KafkaError(code: .shutdown, message: "admin client is closed") }
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

public struct KafkaGroupDescription: Sendable, Hashable {
    public var groupID: String
    /// librdkafka's state name, lower-cased: `stable`, `empty`, `dead`, `preparingrebalance`, ...
    public var state: String
    public var memberCount: Int

    /// Whether consumers are in the group right now.
    public var isActive: Bool { memberCount > 0 }
}

public struct KafkaPartitionLag: Sendable, Hashable {
    public var partition: KafkaTopicPartition
    /// nil when the group never committed on this partition.
    public var committed: Int64?
    public var lowWatermark: Int64
    public var highWatermark: Int64
    /// High watermark minus the committed offset. On Tansu the high watermark lags the log end by up to a batch.
    public var lag: Int64
}

/// Where to move a group's offsets.
public enum KafkaOffsetPosition: Sendable, Hashable {
    case earliest
    case latest
    /// The first message at or after this time.
    case timestamp(Date)
    /// This offset on every partition, clamped to the partition's range.
    case offset(Int64)
}
