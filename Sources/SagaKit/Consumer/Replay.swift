import Foundation
import KafkaClient
import Logging
import PGClient

/// What moving a consumer group back on one topic would redeliver, and what its inbox would make of it.
public struct ReplayPlan: Sendable, Codable, Hashable {
    public struct Partition: Sendable, Codable, Hashable {
        public var partition: Int32
        /// Where the group would resume.
        public var from: Int64
        /// The group's committed offset now; nil if it never committed on this partition.
        public var committed: Int64?
        /// Messages already consumed that would come again: `[from, committed)`.
        public var redeliver: Int64
    }

    public var topic: String
    public var group: String
    public var partitions: [Partition]
    /// Of the redelivered messages, by the consumer's own decode and checks: already applied (the inbox skips
    /// them); valid and not applied yet (they would take effect now, e.g. ones a failing handler dead-lettered);
    /// valid but not handled by this consumer; and invalid (not an envelope, unknown type, key not the saga id,
    /// payload refused), which the consumer would dead-letter again, however often it is replayed.
    public var alreadyApplied = 0
    public var wouldApply = 0
    public var notHandled = 0
    public var wouldDeadLetter = 0
    /// The oldest redelivered message's timestamp.
    public var oldestMessage: Date?

    public var redeliverCount: Int64 { partitions.reduce(0) { $0 + $1.redeliver } }
}

/// Replay for recovery: move a stopped consumer group back, after checking what that would do.
public enum Replay {
    /// The start of the throwaway group id the dry run's reader carries. It never commits, but librdkafka still looks
    /// up the group's coordinator, so a cluster with ACLs grants `Read` on groups with this prefix
    /// (docs/OPERATIONS.md, "Kafka ACLs").
    public static let inspectGroupPrefix = "sagakit-replay-inspect-"

    /// The group's offsets now and the ones `position` names, per partition of `topic`.
    public static func plan(group: String, topic: String, from position: KafkaOffsetPosition, admin: KafkaAdmin) async throws -> ReplayPlan {
        let targets = try await admin.resolve(position, topic: topic)
        let committed = try await admin.committedOffsets(group: group, topics: [topic])
        let partitions = targets.map { target in
            let now = committed[target.topicPartition] ?? nil
            return ReplayPlan.Partition(partition: target.partition, from: target.offset, committed: now,
                                        redeliver: max(0, (now ?? target.offset) - target.offset))
        }
        return ReplayPlan(topic: topic, group: group, partitions: partitions)
    }

    /// Reads the messages the plan would redeliver (without joining the group or committing anything) and
    /// classifies them as the consumer would (`IncomingMessage.classify`), then against its inbox.
    public static func inspect(
        _ plan: ReplayPlan, consumer: String, registry: EventRegistry, handlers: EventHandlers, kafka: KafkaConfiguration,
        db: PGConnection, logger: Logger
    ) async throws -> ReplayPlan {
        var plan = plan
        let ranges = plan.partitions.filter { $0.redeliver > 0 }
        guard !ranges.isEmpty else { return plan }
        let reader = try KafkaConsumer(configuration: kafka, groupID: "\(inspectGroupPrefix)\(UUID().uuidString.prefix(8))",
                                       clientID: "sagakit-replay-inspect", logger: logger)
        try await reader.assign(ranges.map { KafkaTopicPartitionOffset(topic: plan.topic, partition: $0.partition, offset: $0.from) })
        var remaining = Dictionary(uniqueKeysWithValues: ranges.map { ($0.partition, $0.committed!) })
        var handled: [UUID] = []
        let deadline = ContinuousClock.now + .seconds(120)
        while !remaining.isEmpty {
            guard ContinuousClock.now < deadline else {
                await reader.close()
                throw KafkaError(code: .timeout, message: "could not read the replay range of \(plan.topic) within 120 s")
            }
            for message in try await reader.poll(maxMessages: 500, timeout: .milliseconds(200)) {
                guard let end = remaining[message.partition], message.offset < end else { continue }
                if message.offset + 1 >= end { remaining[message.partition] = nil }
                if let ms = message.timestampMilliseconds {
                    let date = Date(timeIntervalSince1970: Double(ms) / 1000)
                    plan.oldestMessage = min(plan.oldestMessage ?? date, date)
                }
                switch IncomingMessage.classify(message, registry: registry, handlers: handlers) {
                case .event(let envelope, _): handled.append(envelope.eventID)
                case .ignored: plan.notHandled += 1
                case .invalid: plan.wouldDeadLetter += 1
                }
            }
        }
        await reader.close()
        let applied = try await Inbox.applied(handled, consumer: consumer, on: db)
        plan.alreadyApplied = handled.filter(applied.contains).count
        plan.wouldApply = handled.count - plan.alreadyApplied
        return plan
    }

    /// Sets the group's committed offsets to the plan's starting points. The broker refuses while the group has
    /// members; callers check first, to say so clearly.
    public static func apply(_ plan: ReplayPlan, admin: KafkaAdmin) async throws {
        try await admin.alterCommittedOffsets(
            group: plan.group, plan.partitions.map { KafkaTopicPartitionOffset(topic: plan.topic, partition: $0.partition, offset: $0.from) })
    }
}
