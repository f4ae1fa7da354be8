import KafkaClient
import Logging
import PGClient
import ServiceLifecycle

/// What makes a saga participant: its name, its database, its migrations, and the consumers it runs. A
/// participant is plain code over plain configuration; the executable that runs it parses flags and the
/// environment into `Configuration` (see SagaKitService), so business rules never depend on a command line.
public protocol SagaParticipant {
    /// What the participant's consumers need beyond SagaKit's own settings (a spool folder, a payment limit).
    associatedtype Configuration: Sendable = NoConfiguration

    /// Short name: the producer stamped on events, the inbox and group names. `inventory`.
    static var name: String { get }
    /// The binary, for messages that tell an operator what to run. Defaults to `<name>-service`.
    static var executableName: String { get }
    /// The variable holding the database URL. `INVENTORY_DATABASE_URL`.
    static var databaseURLVariable: String { get }
    /// Every event type this participant reads or writes.
    static var registry: EventRegistry { get }
    /// The participant's own migrations; SagaKit's tables are applied before them.
    static func migrators() throws -> [PGMigrator]
    /// The consumers the participant runs.
    static func consumers(_ context: ParticipantContext<Configuration>) throws -> [ConsumerDefinition]
    /// Anything else `run` keeps going beside the consumers and the relay (the tracker's gauges); none by default.
    static func backgroundServices(_ context: ParticipantContext<Configuration>, database: PGConfig) throws -> [any Service]
    /// The same, for services that also need Kafka (the tracker's dead-letter projection); by default the above.
    static func backgroundServices(_ context: ParticipantContext<Configuration>, database: PGConfig, kafka: KafkaConfiguration) throws -> [any Service]
}

/// Nothing to configure.
public struct NoConfiguration: Sendable, Hashable {
    public init() {}
}

/// What a participant gets when its consumers are built.
public struct ParticipantContext<Configuration> {
    public let configuration: Configuration
    public let topics: TopicNames
    public let logger: Logger

    public init(configuration: Configuration, topics: TopicNames, logger: Logger) {
        self.configuration = configuration
        self.topics = topics
        self.logger = logger
    }
}

extension ParticipantContext where Configuration == NoConfiguration {
    public init(topics: TopicNames, logger: Logger) {
        self.init(configuration: NoConfiguration(), topics: topics, logger: logger)
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

extension SagaParticipant {
    public static var executableName: String { "\(name)-service" }

    public static func backgroundServices(_ context: ParticipantContext<Configuration>, database: PGConfig) throws -> [any Service] { [] }

    public static func backgroundServices(
        _ context: ParticipantContext<Configuration>, database: PGConfig, kafka: KafkaConfiguration
    ) throws -> [any Service] {
        try backgroundServices(context, database: database)
    }

    /// SagaKit's migrations, then the participant's.
    public static func allMigrators() throws -> [PGMigrator] {
        try [SagaKitSchema.migrator()] + migrators()
    }

    /// Applies pending migrations and returns what was applied, as `component version name`.
    public static func migrate(_ config: PGConfig, logger: Logger) async throws -> [String] {
        try await PGConnection.withConnection(config, logger: logger) { db in
            var applied: [String] = []
            for migrator in try allMigrators() {
                for migration in try await migrator.migrate(db) {
                    applied.append("\(migrator.component) \(migration.version) \(migration.name)")
                }
            }
            return applied
        }
    }
}
