import ArgumentParser
import Foundation
import KafkaClient
import PGClient
import SagaKit

/// `<service> outbox status|republish|recover`.
public struct OutboxCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "outbox", abstract: "Inspect the outbox, or send events again after the broker lost them.",
            subcommands: [OutboxStatusCommand<Service>.self, OutboxRepublishCommand<Service>.self, OutboxRecoverCommand<Service>.self]
        )
    }

    public init() {}
}

public struct OutboxStatusCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "status", abstract: "Pending events, the oldest one's age, parked events and the active relay.")
    }

    @OptionGroup public var database: DatabaseOptions<Service>
    @Flag(help: "Print JSON.") public var json = false
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let status = try await database.withConnection(logging: logging, Outbox.status)
        if json {
            print(try JSONOutput.string(status))
        } else {
            print("pending:            \(status.pending)")
            print("oldest pending age: \(status.oldestPendingAgeSeconds.map { String(format: "%.1fs", $0) } ?? "-")")
            print("parked:             \(status.parked)")
            print("published (kept):   \(status.publishedRetained)")
            print("last published:     \(status.lastPublishedAt.map(RFC3339.format) ?? "-")")
            let leaseLive = (status.relayLeaseExpiresAt ?? .distantPast) > Date()
            print("relay:              \(leaseLive ? (status.relayHolder ?? "-") : "none active")")
        }
    }
}

public struct OutboxRepublishCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "republish",
            abstract: "Mark events created since a time unpublished, so the relay sends them again.",
            discussion: "For a broker that lost data. Consumers' inboxes skip what they already applied. Only events within the outbox's retention are still there to send."
        )
    }

    @Option(help: "An RFC 3339 time (2026-11-21T18:00:00Z) or an age such as 30m, 2h, 7d.")
    public var since: TimeArgument

    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let count = try await database.withConnection(logging: logging) { try await Outbox.republish(since: since.date, on: $0) }
        print("marked \(count) events for republishing since \(RFC3339.format(since.date))")
    }
}

/// `<service> outbox recover`: the whole recovery after the broker lost data, for this service, in one command.
public struct OutboxRecoverCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "recover",
            abstract: "After the broker lost data: publish every retained event again and start lost consumer groups from the beginning.",
            discussion: """
                Marks every event the outbox still holds (or those created since --since) unpublished, publishes them \
                (or waits while the active relay does) until none of them is pending (rows appended meanwhile are the \
                running relay's), then sets each of this service's consumer \
                groups that has no committed offset on a topic to that topic's earliest offsets, so the consumers \
                read everything again and their inboxes skip what was already applied. Nothing is applied twice. \
                Run it for every service, with the topics recreated; stop the services first (docs/OPERATIONS.md).
                """
        )
    }

    @Option(help: "Only events created since this RFC 3339 time or age (30m, 2h, 7d). Default: every event the outbox holds.")
    public var since: TimeArgument?

    @Option(help: "Seconds to wait for the outbox to drain before giving up.")
    public var timeout: Int = 300

    @OptionGroup public var participant: ParticipantCommandOptions<Service>

    public init() {}

    public func validate() throws {
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 second") }
    }

    public func run() async throws {
        let logger = participant.makeLogger()
        let config = try participant.database.config()
        let kafkaConfiguration = try participant.kafka.configuration()
        let topics = participant.kafka.topics
        let (marked, through) = try await PGConnection.withConnection(config, logger: logger) { db in
            (try await Outbox.republish(since: since?.date ?? Date(timeIntervalSince1970: 0), on: db), try await Outbox.lastID(on: db))
        }

        let clientID = "\(Service.name)-recover"
        let producer = try ProducerHandle(logger: logger) {
            try KafkaProducer(configuration: kafkaConfiguration, clientID: clientID, logger: logger)
        }
        var relayConfiguration = OutboxRelayConfiguration()
        relayConfiguration.drainThrough = through
        relayConfiguration.listen = false
        relayConfiguration.pollInterval = .milliseconds(200)
        let relay = OutboxRelay(configuration: relayConfiguration, database: config, producer: producer, logger: logger)
        let seconds = timeout
        let drained = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await relay.run(); return true }
            group.addTask { try await Task.sleep(for: .seconds(seconds)); return false }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        await producer.close()
        guard drained else { throw CommandFailure("the outbox did not drain within \(timeout) s: is the broker reachable and are its topics there?") }
        let parked = try await PGConnection.withConnection(config, logger: logger, Outbox.status).parked
        guard parked == 0 else {
            throw CommandFailure("\(parked) events were refused by the broker for good and parked (docs/OPERATIONS.md, \"A stuck saga\", says how to see why)")
        }

        let admin = try KafkaAdmin(configuration: kafkaConfiguration, logger: logger)
        var reset: [String] = []
        for definition in try participant.consumers(logger: logger) {
            let group = topics.groupID(service: Service.name, consumer: definition.name)
            guard try await !admin.describeGroup(group).isActive else { continue }
            let physical = definition.topics.map { topics($0) }
            let committed = try await admin.committedOffsets(group: group, topics: physical)
            for topic in physical where committed.filter({ $0.key.topic == topic }).allSatisfy({ $0.value == nil }) {
                try await admin.resetOffsets(group: group, topic: topic, to: .earliest)
                reset.append("\(group)@\(topic)")
            }
        }
        await admin.close()
        print("republished \(marked) events; consumer groups started from the earliest offsets: \(reset.isEmpty ? "none needed" : reset.joined(separator: ", "))")
    }
}
