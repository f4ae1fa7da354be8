import CRdKafka
import DedicatedExecutor
import Foundation
import Logging
import Synchronization

/// A consumer-group member whose offsets move only when the application says a message is done.
///
/// Pinned: `enable.auto.offset.store=false` and `enable.auto.commit=false`. The application stores an offset
/// after its own work has committed (`storeOffsets`) and commits stored offsets explicitly (`commit`); before
/// partitions are revoked in a rebalance, and when the consumer closes, stored offsets are committed
/// synchronously, so the next owner starts where this one stopped. Defaults: `auto.offset.reset=earliest`
/// (never skip what nobody consumed).
///
/// The actor runs on a thread of its own: `poll`, `commit` and `close` block only that thread. The rebalance
/// callback fires inside `poll`, on that thread.
public actor KafkaConsumer {
    public static let defaultProperties: [String: String] = [
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
        "socket.keepalive.enable": "true",
        // Also the rebalance timeout: how long a join waits for a member that died without leaving. SagaKit's
        // runner polls at least every few seconds, so 30 s (not Kafka's 5 minutes) is plenty. It must not be
        // below the session timeout, which is therefore 10 s (Kafka's default before 3.0) rather than 45 s.
        "max.poll.interval.ms": "30000",
        "session.timeout.ms": "10000",
    ]
    public static let pinnedProperties: [String: String] = [
        "enable.auto.offset.store": "false",
        "enable.auto.commit": "false",
    ]

    private let executor: ThreadExecutor
    private let client: RDKafkaClient
    private let logger: Logger
    private var closed = false
    private var lastErrorLogged: (code: Int32, at: ContinuousClock.Instant)?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public nonisolated let groupID: String

    static func properties(_ configuration: KafkaConfiguration, groupID: String, clientID: String) throws -> [(String, String)] {
        var properties = Self.defaultProperties
        properties["bootstrap.servers"] = configuration.bootstrapServers
        properties["group.id"] = groupID
        properties["client.id"] = clientID
        properties.merge(configuration.properties) { $1 }
        properties.merge(configuration.consumerProperties) { $1 }
        // librdkafka checks the application's values before the pinned ones replace them.
        try RDKafkaClient.validate(properties.sorted { $0.key < $1.key })
        properties.merge(Self.pinnedProperties) { $1 }
        return properties.sorted { $0.key < $1.key }
    }

    /// Checks every consumer property with librdkafka without creating a client, to fail at start-up.
    public static func validate(configuration: KafkaConfiguration) throws {
        _ = try properties(configuration, groupID: "sagakit-validate", clientID: "sagakit-validate")
    }

    public init(configuration: KafkaConfiguration, groupID: String, clientID: String, logger: Logger) throws {
        let properties = try Self.properties(configuration, groupID: groupID, clientID: clientID)
        var logger = logger
        logger[metadataKey: "kafka.group"] = .string(groupID)
        self.logger = logger
        self.groupID = groupID
        executor = ThreadExecutor(name: "kafka-consumer-\(groupID)")
        client = try RDKafkaClient(kind: .consumer, properties: properties, logger: logger) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        // Serve errors, logs and rebalances from the consumer queue, i.e. inside `poll`.
        rd_kafka_poll_set_consumer(client.handle)
    }

    public func subscribe(_ topics: [String]) throws {
        try checkOpen()
        let list = RDKafkaTopicPartitionList.make(topics.map { KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "subscribe") }
    }

    /// Waits up to `timeout` for the first message, then takes what else is already fetched, up to `maxMessages`.
    /// Rebalances happen inside this call; `takeRebalanceEvents` tells what they did.
    public func poll(maxMessages: Int = 1, timeout: Duration) throws -> [KafkaMessage] {
        try checkOpen()
        var messages: [KafkaMessage] = []
        var wait = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        while messages.count < maxMessages {
            guard let raw = rd_kafka_consumer_poll(client.handle, wait) else { break }
            wait = 0
            defer { rd_kafka_message_destroy(raw) }
            let err = raw.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                messages.append(Self.copy(raw))
            } else if err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                continue
            } else if let fatal = client.fatalError() {
                throw fatal
            } else {
                logConsumeError(raw)
            }
        }
        return messages
    }

    /// Records positions as done: each offset names the next message to read (processed offset + 1). Partitions
    /// this member no longer owns are skipped; their new owner redoes that work and the inbox absorbs it.
    public func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        guard !offsets.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(client.handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__STATE {
            for (item, itemErr) in RDKafkaTopicPartitionList.elements(list) where itemErr != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.debug("offset not stored for \(item.topicPartition): \(String(cString: rd_kafka_err2str(itemErr)))")
            }
        }
    }

    /// Commits the stored offsets. Asynchronous commits return at once; a failed one is superseded by the next.
    public func commit(synchronously: Bool = false) throws {
        try checkOpen()
        let err = rd_kafka_commit(client.handle, nil, synchronously ? 0 : 1)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET else {
            throw KafkaError(err, context: "commit")
        }
    }

    /// Moves the fetch positions, dropping anything already fetched for those partitions. Used to redeliver
    /// messages after a failed attempt, so a partition keeps its order.
    public func seek(_ positions: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        guard !positions.isEmpty else { return }
        let list = RDKafkaTopicPartitionList.make(positions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(client.handle, list, 5000) {
            throw KafkaError(consuming: error, context: "seek")
        }
        for (item, err) in RDKafkaTopicPartitionList.elements(list) where err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // A partition revoked meanwhile is not ours to seek; anything else means the redelivery is not set up.
            if err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && err != RD_KAFKA_RESP_ERR__STATE {
                throw KafkaError(err, context: "seek \(item.topicPartition)")
            }
        }
    }

    /// Reads these partitions from these offsets without joining the group (no rebalance, and nothing is
    /// committed unless the caller commits). For reading a range, as a replay's dry run does.
    public func assign(_ positions: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        let list = RDKafkaTopicPartitionList.make(positions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_assign(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "assign") }
    }

    /// The next offset this member will read on each assigned partition (negative when not yet known).
    public func positions() throws -> [KafkaTopicPartitionOffset] {
        let assigned = try assignment()
        guard !assigned.isEmpty else { return [] }
        let list = RDKafkaTopicPartitionList.make(assigned)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_position(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "position") }
        return RDKafkaTopicPartitionList.elements(list).map(\.0)
    }

    /// Whether every assigned partition has been read up to its high watermark, asked of the broker. False
    /// while nothing is assigned. (A broker whose high watermark lags the log end, like Tansu, can make this
    /// true a batch early: pair it with a quiet period.)
    public func isCaughtUp() throws -> Bool {
        let positions = try positions()
        guard !positions.isEmpty else { return false }
        for position in positions {
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_query_watermark_offsets(client.handle, position.topic, position.partition, &low, &high, 5000)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "watermarks") }
            // A partition never read has no position yet; it is caught up only if it is empty.
            let next = position.offset >= 0 ? position.offset : low
            if next < high { return false }
        }
        return true
    }

    public func pause(_ partitions: [KafkaTopicPartition]) throws {
        try checkOpen()
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_pause_partitions(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "pause") }
    }

    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        try checkOpen()
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_resume_partitions(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "resume") }
    }

    public func assignment() throws -> [KafkaTopicPartition] {
        try checkOpen()
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        let err = rd_kafka_assignment(client.handle, &list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { throw KafkaError(err, context: "assignment") }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return RDKafkaTopicPartitionList.elements(list).map { $0.0.topicPartition }
    }

    /// The group's committed offsets for these partitions, from the broker.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) throws -> [KafkaTopicPartitionOffset] {
        try checkOpen()
        let list = RDKafkaTopicPartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_committed(client.handle, list, Int32(clamping: timeout.components.seconds * 1000))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "committed") }
        return RDKafkaTopicPartitionList.elements(list).map(\.0)
    }

    /// What rebalances did since the last call: partitions assigned and revoked, in order.
    public func takeRebalanceEvents() -> [KafkaRebalanceEvent] {
        client.context.rebalance.take()
    }

    /// Commits stored offsets, leaves the group (so partitions move at once, not after the session timeout) and
    /// destroys the handle.
    public func close() {
        guard !closed else { return }
        closed = true
        let err = rd_kafka_commit(client.handle, nil, 0)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            logger.warning("final offset commit failed: \(String(cString: rd_kafka_err2str(err)))")
        }
        let closeErr = rd_kafka_consumer_close(client.handle)
        if closeErr != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("consumer close: \(String(cString: rd_kafka_err2str(closeErr)))")
        }
        client.destroy()
        executor.shutdown()
    }

    deinit {
        // Dropped without close(): leave the group and destroy the handle on the consumer's own thread.
        if !closed {
            let client = self.client
            executor.perform {
                rd_kafka_consumer_close(client.handle)
                client.destroy()
            }
        }
        executor.shutdown()
    }

    private func checkOpen() throws {
        if closed { throw KafkaError(code: .shutdown, message: "consumer is closed") }
    }

    /// Consume errors repeat for as long as their cause lasts (a missing topic, a broker away); log each kind at
    /// most every 10 seconds.
    private func logConsumeError(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) {
        let err = raw.pointee.err
        let now = ContinuousClock.now
        if let last = lastErrorLogged, last.code == err.rawValue, now - last.at < .seconds(10) { return }
        lastErrorLogged = (err.rawValue, now)
        var text = String(cString: rd_kafka_err2str(err))
        if let rkt = raw.pointee.rkt {
            text += " (\(String(cString: rd_kafka_topic_name(rkt)))[\(raw.pointee.partition)])"
        }
        logger.warning("consume error: \(text)", metadata: ["kafka.error": .string(String(cString: rd_kafka_err2name(err)))])
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

/// A change of this member's partitions.
public enum KafkaRebalanceEvent: Sendable, Hashable {
    case assigned([KafkaTopicPartition])
    case revoked([KafkaTopicPartition])
}

/// Rebalance events recorded by the callback (on the consumer's thread) for the runner to read.
final class RebalanceState: Sendable {
    private let events = Mutex<[KafkaRebalanceEvent]>([])

    func record(_ event: KafkaRebalanceEvent) {
        events.withLock { $0.append(event) }
    }

    func take() -> [KafkaRebalanceEvent] {
        events.withLock { events in
            defer { events.removeAll() }
            return events
        }
    }
}

/// Runs inside `rd_kafka_consumer_poll` on the consumer's thread. Registering it makes assignment our job.
private let rebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, partitions, _ in
    guard let rk, let context = RDKafkaClientContext.from(rk) else { return }
    let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
    let changed = partitions.map { RDKafkaTopicPartitionList.elements($0).map { $0.0.topicPartition } } ?? []
    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, partitions) {
                context.logger.error("incremental assign failed: \(KafkaError(consuming: error).message)")
            }
        } else {
            rd_kafka_assign(rk, partitions)
        }
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
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, partitions) {
                context.logger.error("incremental unassign failed: \(KafkaError(consuming: error).message)")
            }
        } else {
            rd_kafka_assign(rk, nil)
        }
        context.rebalance.record(.revoked(changed))
        context.logger.notice("partitions revoked: \(changed.map(\.description).joined(separator: ", "))")
    default:
        context.logger.error("rebalance error: \(String(cString: rd_kafka_err2str(err)))")
        rd_kafka_assign(rk, nil)
        context.rebalance.record(.revoked(changed))
    }
}
