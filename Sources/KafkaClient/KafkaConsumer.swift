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
        // Errors, logs and rebalances are served from the consumer queue, i.e. inside `poll`.
        client = try RDKafkaClient.makeConsumer(properties: properties, logger: logger)
    }

    public func subscribe(_ topics: [String]) throws {
        try checkOpen()
        try client.subscribe(topics)
    }

    /// Waits up to `timeout` for the first message, then takes what else is already fetched, up to `maxMessages`.
    /// Rebalances happen inside this call; `takeRebalanceEvents` tells what they did.
    public func poll(maxMessages: Int = 1, timeout: Duration) throws -> [KafkaMessage] {
        try checkOpen()
        var messages: [KafkaMessage] = []
        var wait = timeout.clampedMilliseconds
        while messages.count < maxMessages, let event = client.consumerPoll(timeoutMilliseconds: wait) {
            wait = 0
            switch event {
            case .message(let message):
                messages.append(message)
            case .partitionEOF:
                continue
            case .error(let code, let text, let name):
                if let fatal = client.fatalError() { throw fatal }
                logConsumeError(code: code, text: text, name: name)
            }
        }
        return messages
    }

    /// Records positions as done: each offset names the next message to read (processed offset + 1). Partitions
    /// this member no longer owns are skipped; their new owner redoes that work and the inbox absorbs it.
    public func storeOffsets(_ offsets: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        guard !offsets.isEmpty else { return }
        for (partition, reason) in client.storeOffsets(offsets) {
            logger.debug("offset not stored for \(partition): \(reason)")
        }
    }

    /// Commits the stored offsets. Asynchronous commits return at once; a failed one is superseded by the next.
    public func commit(synchronously: Bool = false) throws {
        try checkOpen()
        if let error = client.commitStoredOffsets(synchronously: synchronously, context: "commit") { throw error }
    }

    /// Moves the fetch positions, dropping anything already fetched for those partitions. Used to redeliver
    /// messages after a failed attempt, so a partition keeps its order.
    public func seek(_ positions: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        guard !positions.isEmpty else { return }
        try client.seek(positions)
    }

    /// Reads these partitions from these offsets without joining the group (no rebalance, and nothing is
    /// committed unless the caller commits). For reading a range, as a replay's dry run does.
    public func assign(_ positions: [KafkaTopicPartitionOffset]) throws {
        try checkOpen()
        try client.assign(positions)
    }

    /// The next offset this member will read on each assigned partition (negative when not yet known).
    public func positions() throws -> [KafkaTopicPartitionOffset] {
        let assigned = try assignment()
        guard !assigned.isEmpty else { return [] }
        return try client.positions(assigned)
    }

    /// Messages behind on each assigned partition: the high watermark librdkafka last saw in a fetch minus this
    /// member's position. Costs no request (for metrics scraped often); partitions not yet fetched are left out.
    /// A broker whose high watermark lags the log end (Tansu stops a batch short) makes it read low.
    public func lag() throws -> [(partition: KafkaTopicPartition, lag: Int64)] {
        try positions().compactMap { position in
            guard position.offset >= 0, let marks = client.cachedWatermarks(topic: position.topic, partition: position.partition) else { return nil }
            return (position.topicPartition, max(0, marks.high - position.offset))
        }
    }

    /// Whether every assigned partition has been read up to its high watermark, asked of the broker. False
    /// while nothing is assigned. (A broker whose high watermark lags the log end, like Tansu, can make this
    /// true a batch early: pair it with a quiet period.)
    public func isCaughtUp() throws -> Bool {
        let positions = try positions()
        guard !positions.isEmpty else { return false }
        for position in positions {
            let (low, high) = try client.watermarks(topic: position.topic, partition: position.partition, timeoutMilliseconds: 5000,
                                                    context: "watermarks")
            // A partition never read has no position yet; it is caught up only if it is empty.
            let next = position.offset >= 0 ? position.offset : low
            if next < high { return false }
        }
        return true
    }

    public func pause(_ partitions: [KafkaTopicPartition]) throws {
        try checkOpen()
        try client.pause(partitions)
    }

    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        try checkOpen()
        try client.resume(partitions)
    }

    public func assignment() throws -> [KafkaTopicPartition] {
        try checkOpen()
        return try client.assignment()
    }

    /// The group's committed offsets for these partitions, from the broker.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) throws -> [KafkaTopicPartitionOffset] {
        try checkOpen()
        return try client.committed(partitions, timeoutMilliseconds: timeout.clampedMilliseconds)
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
        if let error = client.commitStoredOffsets(synchronously: true) {
            logger.warning("final offset commit failed: \(error.message)")
        }
        if let error = client.consumerClose() {
            logger.warning("consumer close: \(error.message)")
        }
        client.destroy()
        executor.shutdown()
    }

    deinit {
        // Dropped without close(): leave the group and destroy the handle on the consumer's own thread.
        if !closed {
            let client = self.client
            executor.perform {
                _ = client.consumerClose()
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
    private func logConsumeError(code: Int32, text: String, name: String) {
        let now = ContinuousClock.now
        if let last = lastErrorLogged, last.code == code, now - last.at < .seconds(10) { return }
        lastErrorLogged = (code, now)
        logger.warning("consume error: \(text)", metadata: ["kafka.error": .string(name)])
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
