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
    private let admin: RDKafkaAdmin
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
        admin = RDKafkaAdmin(client: client)
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
        try admin.createTopics(names, partitions: partitions, replicationFactor: replicationFactor, timeoutMilliseconds: timeoutMilliseconds)
    }

    public func deleteTopics(_ names: [String]) throws {
        try checkOpen()
        guard !names.isEmpty else { return }
        try admin.deleteTopics(names, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Partition ids of a topic, from the cluster's metadata; empty when the topic does not exist.
    public func partitions(of topic: String) throws -> [Int32] {
        try checkOpen()
        guard let found = try admin.topics(timeoutMilliseconds: timeoutMilliseconds).first(where: { $0.name == topic }) else { return [] }
        return found.partitions?.sorted() ?? []
    }

    /// Every topic name in the cluster.
    public func topicNames() throws -> [String] {
        try checkOpen()
        return try admin.topics(timeoutMilliseconds: timeoutMilliseconds).map(\.name).sorted()
    }

    /// The low and high watermarks of a partition. The high watermark is the offset the next message will get;
    /// some brokers (Tansu) report the last batch's base offset + 1 instead, so it can be short by up to a batch.
    public func watermarks(topic: String, partition: Int32) throws -> (low: Int64, high: Int64) {
        try checkOpen()
        return try client.watermarks(topic: topic, partition: partition, timeoutMilliseconds: timeoutMilliseconds,
                                     context: "watermarks \(topic)[\(partition)]")
    }

    /// For each partition, the earliest offset whose timestamp is at or after `timestamp`; the high watermark
    /// when no message is that recent.
    public func offsets(atOrAfter timestamp: Date, topic: String, partitions: [Int32]) throws -> [KafkaTopicPartitionOffset] {
        try checkOpen()
        let millis = Int64((timestamp.timeIntervalSince1970 * 1000).rounded(.down))
        return try admin.offsetsForTimes(millis, topic: topic, partitions: partitions, timeoutMilliseconds: timeoutMilliseconds).map { item in
            if item.offset >= 0 { return item }
            return KafkaTopicPartitionOffset(topic: topic, partition: item.partition, offset: try watermarks(topic: topic, partition: item.partition).high)
        }
    }

    // MARK: - Consumer groups

    /// The group's state and members; a group nobody has joined reports state `dead` or `empty` and no members.
    public func describeGroup(_ group: String) throws -> KafkaGroupDescription {
        try checkOpen()
        return try admin.describeGroup(group, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Deletes a group with no members and its committed offsets; a group that does not exist is no error.
    public func deleteGroup(_ group: String) throws {
        try checkOpen()
        try admin.deleteGroup(group, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// The group's committed offsets for every partition of `topics`; nil for a partition with no commit.
    public func committedOffsets(group: String, topics: [String]) throws -> [KafkaTopicPartition: Int64?] {
        try checkOpen()
        var partitions: [KafkaTopicPartition] = []
        for topic in topics {
            partitions += try self.partitions(of: topic).map { KafkaTopicPartition(topic: topic, partition: $0) }
        }
        guard !partitions.isEmpty else { return [:] }
        var result = try admin.committedOffsets(group: group, partitions: partitions, timeoutMilliseconds: timeoutMilliseconds)
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
        try admin.alterCommittedOffsets(group: group, offsets, timeoutMilliseconds: timeoutMilliseconds)
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
        requestTimeout.clampedMilliseconds
    }

    private func checkOpen() throws {
        if closed { throw KafkaError(code: .shutdown, message: "admin client is closed") }
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
