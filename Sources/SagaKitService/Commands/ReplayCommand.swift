import ArgumentParser
import Foundation
import KafkaClient
import PGClient
import SagaKit

/// Where a replay starts: `earliest`, an RFC 3339 time, or an offset (the same on every partition).
public struct ReplayStart: ExpressibleByArgument, Sendable {
    public let position: KafkaOffsetPosition

    public init?(argument: String) {
        if argument == "earliest" {
            position = .earliest
        } else if let date = RFC3339.parse(argument) {
            position = .timestamp(date)
        } else if let offset = Int64(argument), offset >= 0 {
            position = .offset(offset)
        } else {
            return nil
        }
    }
}

/// `<service> replay`: move the service's consumer group back on a topic, so it consumes those events again.
public struct ReplayCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "replay",
            abstract: "Make the \(Service.name) service consume a topic again from a point (recovery after a consumer bug, say).",
            discussion: """
                Resets the service's consumer-group offsets on the topic; the next `\(Service.executableName) run` redelivers from \
                there, and its inbox skips what was already applied. Refuses while the service's consumers run, and \
                (unless --force) when the replay reaches events older than the inbox remembers, since those could be \
                applied twice. --dry-run reports what would be redelivered and what the inbox would skip, and changes \
                nothing.
                """
        )
    }

    @Option(help: "The topic, by its logical name (orders, inventory, payment, notification).")
    public var topic: String

    @Option(help: "earliest, an RFC 3339 time (2026-11-21T18:00:00Z), or an offset.")
    public var from: ReplayStart

    @Flag(help: "Report what would be redelivered and skipped; change nothing.")
    public var dryRun = false

    @Flag(help: "Replay even events older than the inbox's retention (they may be applied twice).")
    public var force = false

    @Flag(help: "Print JSON.")
    public var json = false

    @OptionGroup public var participant: ParticipantCommandOptions<Service>

    public init() {}

    public func run() async throws {
        let logger = participant.makeLogger()
        let topics = participant.kafka.topics
        let definitions = try participant.consumers(logger: logger)
        guard let definition = definitions.first(where: { $0.topics.contains(topic) }) else {
            let consumed = Set(definitions.flatMap(\.topics)).sorted().joined(separator: ", ")
            throw ValidationError("the \(Service.name) service does not consume \(topic); it consumes \(consumed)")
        }
        let kafkaConfiguration = try participant.kafka.configuration()
        let group = topics.groupID(service: Service.name, consumer: definition.name)
        // The inbox horizon lives in SagaKit's tables: bring them up to date, as `run` would.
        _ = try await Service.migrate(try participant.database.config(), logger: logger)
        let admin = try KafkaAdmin(configuration: kafkaConfiguration, logger: logger)
        let db = try await PGConnection.connect(try participant.database.config(), logger: logger)
        do {
            try await replay(definition: definition, group: group, kafka: kafkaConfiguration, admin: admin, db: db)
        } catch {
            await admin.close()
            await db.close()
            throw error
        }
        await admin.close()
        await db.close()
    }

    private func replay(definition: ConsumerDefinition, group: String, kafka kafkaConfiguration: KafkaConfiguration, admin: KafkaAdmin, db: PGConnection) async throws {
        let logger = participant.makeLogger()
        let topics = participant.kafka.topics
        let description = try await admin.describeGroup(group)
        if description.isActive && !dryRun {
            throw CommandFailure("refusing to replay: \(description.memberCount) consumer(s) of \(Service.name) are running in group \(group); stop `\(Service.executableName) run` first")
        }
        var plan = try await Replay.plan(group: group, topic: topics(topic), from: from.position, admin: admin)
        plan = try await Replay.inspect(plan, consumer: definition.name, registry: Service.registry, handlers: definition.handlers,
                                        kafka: kafkaConfiguration, db: db, logger: logger)
        let horizon = try await Inbox.purgedBefore(on: db)
        let beyondHorizon = horizon.flatMap { horizon in plan.oldestMessage.map { $0 < horizon } } ?? false

        if json {
            print(try JSONOutput.string(Report(plan: plan, inboxHorizon: horizon, dryRun: dryRun, applied: !dryRun && (!beyondHorizon || force))))
        } else {
            print(Self.describe(plan, horizon: horizon))
        }
        if dryRun {
            if description.isActive { print("note: the service's consumers are running; stop them before replaying for real") }
            return
        }
        if beyondHorizon && !force {
            throw CommandFailure("refusing to replay: it reaches events from \(RFC3339.format(plan.oldestMessage!)), older than the inbox remembers (entries before \(RFC3339.format(horizon!)) were deleted), so they could be applied twice; use --force to replay anyway")
        }
        try await Replay.apply(plan, admin: admin)
        if !json {
            print("done: group \(group) reset on \(plan.topic); `\(Service.executableName) run` redelivers \(plan.redeliverCount) events")
        }
    }

    struct Report: Encodable {
        var plan: ReplayPlan
        var inboxHorizon: Date?
        var dryRun: Bool
        var applied: Bool
    }

    static func describe(_ plan: ReplayPlan, horizon: Date?) -> String {
        var lines = ["replay of \(plan.topic) for group \(plan.group):"]
        lines.append(Table(["  PARTITION", "COMMITTED", "FROM", "REDELIVERED"], plan.partitions.map {
            ["  \($0.partition)", $0.committed.map(String.init) ?? "-", "\($0.from)", "\($0.redeliver)"]
        }).rendered)
        lines.append("  \(plan.redeliverCount) events redelivered: \(plan.alreadyApplied) already applied (the inbox skips them), "
                     + "\(plan.wouldApply) not applied before (they take effect now), \(plan.notHandled) not handled by this service, "
                     + "\(plan.wouldDeadLetter) invalid (they go to the dead-letter topic again)")
        if let oldest = plan.oldestMessage { lines.append("  oldest redelivered event: \(RFC3339.format(oldest))") }
        lines.append("  inbox remembers: \(horizon.map { "since \(RFC3339.format($0))" } ?? "everything (nothing deleted yet)")")
        return lines.joined(separator: "\n")
    }
}
