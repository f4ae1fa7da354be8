import ArgumentParser
import Logging
import PGClient
import SagaKit

/// What makes a service: its name, its database, its migrations, and the consumers it runs. A service's
/// executable is this definition plus its domain commands; `run`, `migrate`, `outbox` and `replay` come from
/// here.
public protocol SagaServiceDefinition {
    /// Options of this service's `run` beyond the shared ones (a spool folder, a payment limit).
    associatedtype Options: ParsableArguments = NoOptions

    /// Short name: the producer stamped on events, the inbox and group names. `inventory`.
    static var name: String { get }
    /// The binary, for messages that tell an operator what to run. Defaults to `<name>-service`.
    static var executableName: String { get }
    /// The variable holding the database URL. `INVENTORY_DATABASE_URL`.
    static var databaseURLVariable: String { get }
    /// Every event type this service reads or writes.
    static var registry: EventRegistry { get }
    /// The service's own migrations; SagaKit's tables are applied before them.
    static func migrators() throws -> [PGMigrator]
    /// The consumers `run` starts.
    static func consumers(_ context: ServiceContext<Options>) throws -> [ConsumerDefinition]
}

/// No extra options.
public struct NoOptions: ParsableArguments {
    public init() {}
}

/// What a definition gets when `run` builds its consumers.
public struct ServiceContext<Options> {
    public let options: Options
    public let topics: TopicNames
    public let logger: Logger

    public init(options: Options, topics: TopicNames, logger: Logger) {
        self.options = options
        self.topics = topics
        self.logger = logger
    }
}

/// One consumer: its name (inbox and group), the logical topics it reads, and its handlers.
public struct ConsumerDefinition: Sendable {
    public var name: String
    public var topics: [String]
    public var handlers: EventHandlers

    public init(name: String, topics: [String], handlers: EventHandlers) {
        self.name = name
        self.topics = topics
        self.handlers = handlers
    }
}

extension SagaServiceDefinition {
    public static var executableName: String { "\(name)-service" }

    /// SagaKit's migrations, then the service's.
    public static func allMigrators() throws -> [PGMigrator] {
        try [SagaKitSchema.migrator()] + migrators()
    }

    /// Applies pending migrations and returns what was applied, as `component version name`.
    public static func migrate(_ config: PGConfig, logger: Logger) async throws -> [String] {
        let db = try await PGConnection.connect(config, logger: logger)
        var applied: [String] = []
        for migrator in try allMigrators() {
            for migration in try await migrator.migrate(db) {
                applied.append("\(migrator.component) \(migration.version) \(migration.name)")
            }
        }
        await db.close()
        return applied
    }
}
