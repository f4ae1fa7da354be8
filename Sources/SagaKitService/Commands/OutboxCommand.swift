import ArgumentParser
import Foundation
import PGClient
import SagaKit

/// `<service> outbox status|republish`.
public struct OutboxCommand<Service: SagaServiceDefinition>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "outbox", abstract: "Inspect the outbox, or send events again after the broker lost them.",
            subcommands: [OutboxStatusCommand<Service>.self, OutboxRepublishCommand<Service>.self]
        )
    }

    public init() {}
}

public struct OutboxStatusCommand<Service: SagaServiceDefinition>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "status", abstract: "Pending events, the oldest one's age, parked events and the active relay.")
    }

    @OptionGroup public var database: DatabaseOptions<Service>
    @Flag(help: "Print JSON.") public var json = false
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let logger = logging.makeLogger(label: Service.name)
        let db = try await PGConnection.connect(try database.config(), logger: logger)
        let status = try await Outbox.status(on: db)
        await db.close()
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

public struct OutboxRepublishCommand<Service: SagaServiceDefinition>: AsyncParsableCommand {
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
        let logger = logging.makeLogger(label: Service.name)
        let db = try await PGConnection.connect(try database.config(), logger: logger)
        let count = try await Outbox.republish(since: since.date, on: db)
        await db.close()
        print("marked \(count) events for republishing since \(RFC3339.format(since.date))")
    }
}
