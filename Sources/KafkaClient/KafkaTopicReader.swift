import Foundation
import Logging

/// Reads partitions to their true end without joining a consumer group or committing anything: for tools that
/// look at a topic (saga-check, the dead-letter commands), never for consuming.
///
/// "The end" is the high watermark **and** a quiet spell with no new message: some brokers (Tansu) report the last
/// batch's base offset + 1 as the high watermark, so a reader that stopped there would miss up to a batch.
public struct KafkaTopicReader: Sendable {
    public var configuration: KafkaConfiguration
    /// librdkafka needs a group id even for a manual assignment; nothing is joined or committed under it, but a
    /// cluster with ACLs must still grant `Read` on it (so callers use a fixed prefix).
    public var groupID: String
    public var clientID: String
    /// How long no new message must arrive, once every partition reached its high watermark.
    public var quietPeriod: Duration = .seconds(1)
    /// The whole read's bound; beyond it the read fails rather than returning a partial picture.
    public var timeout: Duration = .seconds(60)
    public var logger: Logger

    public init(configuration: KafkaConfiguration, groupID: String, clientID: String, logger: Logger) {
        self.configuration = configuration
        self.groupID = groupID
        self.clientID = clientID
        self.logger = logger
    }

    /// Reads every partition from its start offset to its true end, handing each message to `body` in the order
    /// polled. `highWatermarks` are the ends as the broker reports them; a partition whose start is at or past
    /// its high watermark is still read for the quiet period (it may hold the batch the watermark misses).
    public func read(
        from starts: [KafkaTopicPartitionOffset], highWatermarks: [KafkaTopicPartition: Int64], _ body: (KafkaMessage) throws -> Void
    ) async throws {
        guard !starts.isEmpty else { return }
        var pending = Set(starts.filter { (highWatermarks[$0.topicPartition] ?? 0) > $0.offset }.map(\.topicPartition))
        let reader = try KafkaConsumer(configuration: configuration, groupID: groupID, clientID: clientID, logger: logger)
        do {
            try await reader.assign(starts)
            var quietSince = ContinuousClock.now
            let deadline = ContinuousClock.now + timeout
            while !pending.isEmpty || ContinuousClock.now - quietSince < quietPeriod {
                guard ContinuousClock.now < deadline else {
                    throw KafkaError(code: .timeout, message: "could not read \(Set(starts.map(\.topic)).sorted().joined(separator: ", ")) to its end within \(timeout)")
                }
                let messages = try await reader.poll(maxMessages: 1000, timeout: .milliseconds(200))
                if !messages.isEmpty { quietSince = .now }
                for message in messages {
                    if message.offset + 1 >= highWatermarks[message.topicPartition] ?? 0 { pending.remove(message.topicPartition) }
                    try body(message)
                }
            }
        } catch {
            await reader.close()
            throw error
        }
        await reader.close()
    }

    /// The message at `position`, read from there and no further; nil when the partition holds none at that offset
    /// (before its low watermark, past its true end, or not a partition of the topic). For a lookup by id, which
    /// must not cost a read of everything the topic holds.
    public func message(at position: KafkaTopicPartitionOffset, admin: KafkaAdmin) async throws -> KafkaMessage? {
        guard try await admin.partitions(of: position.topic).contains(position.partition) else { return nil }
        let marks = try await admin.watermarks(topic: position.topic, partition: position.partition)
        guard position.offset >= marks.low else { return nil }
        // An offset past the log's end must not restart the read at the beginning (`earliest`, the default): at
        // the end there is nothing to read, and the quiet period says so.
        var settings = configuration
        settings.consumerProperties["auto.offset.reset"] = "latest"
        let reader = try KafkaConsumer(configuration: settings, groupID: groupID, clientID: clientID, logger: logger)
        do {
            try await reader.assign([position])
            // The quiet period counts from the first answer, not from before the connection was made.
            var quietSince: ContinuousClock.Instant?
            let deadline = ContinuousClock.now + timeout
            while true {
                guard ContinuousClock.now < deadline else {
                    throw KafkaError(code: .timeout, message: "could not read \(position.topic) partition \(position.partition) to offset \(position.offset) within \(timeout)")
                }
                let messages = try await reader.poll(maxMessages: 100, timeout: .milliseconds(200))
                if let reached = messages.first(where: { $0.offset >= position.offset }) {
                    await reader.close()
                    return reached.offset == position.offset ? reached : nil
                }
                if !messages.isEmpty || quietSince == nil { quietSince = .now }
                // At or past the high watermark (which can fall a batch short) and quiet: nothing is there.
                if position.offset >= marks.high, let quietSince, ContinuousClock.now - quietSince >= quietPeriod {
                    await reader.close()
                    return nil
                }
            }
        } catch {
            await reader.close()
            throw error
        }
    }

    /// Reads every message the topics hold, from each partition's low watermark; a topic that does not exist
    /// holds none.
    public func readAll(topics: [String], admin: KafkaAdmin, _ body: (KafkaMessage) throws -> Void) async throws {
        var starts: [KafkaTopicPartitionOffset] = []
        var highs: [KafkaTopicPartition: Int64] = [:]
        for topic in topics {
            for partition in try await admin.partitions(of: topic) {
                let marks = try await admin.watermarks(topic: topic, partition: partition)
                starts.append(KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: marks.low))
                highs[KafkaTopicPartition(topic: topic, partition: partition)] = marks.high
            }
        }
        // An empty partition still gets the quiet period: its high watermark may be the one that lags.
        try await read(from: starts, highWatermarks: highs, body)
    }
}
