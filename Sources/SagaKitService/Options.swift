import ArgumentParser
import Foundation
import KafkaClient
import Logging
import PGClient
import SagaKit

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--log-level` and `--log-format`, shared by every command.
public struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [env: SAGAKIT_LOG_LEVEL] (default: info)")
    public var logLevel: Logger.Level?

    @Option(help: "Log format: text or json (one JSON object per line). [env: SAGAKIT_LOG_FORMAT] (default: text)")
    public var logFormat: LogFormat?

    public init() {}

    public enum LogFormat: String, ExpressibleByArgument, Sendable {
        case text, json
    }

    /// A variable set to something these cannot be is a usage error, as a flag would be, not silently the default.
    public func validate() throws {
        if logLevel == nil, let raw = Environment.value("SAGAKIT_LOG_LEVEL"), Self.level(raw) == nil {
            throw ValidationError("SAGAKIT_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical, not '\(raw.prefix(40))'")
        }
        if logFormat == nil, let raw = Environment.value("SAGAKIT_LOG_FORMAT"), LogFormat(rawValue: raw.lowercased()) == nil {
            throw ValidationError("SAGAKIT_LOG_FORMAT must be text or json, not '\(raw.prefix(40))'")
        }
    }

    public var resolvedLevel: Logger.Level {
        logLevel ?? Environment.value("SAGAKIT_LOG_LEVEL").flatMap(Self.level) ?? .info
    }

    /// A variable's level in any case, `warn` for `warning` as many tools spell it.
    static func level(_ text: String) -> Logger.Level? {
        let lowered = text.lowercased()
        return lowered == "warn" ? .warning : Logger.Level(rawValue: lowered)
    }

    public var resolvedFormat: LogFormat {
        logFormat ?? Environment.value("SAGAKIT_LOG_FORMAT").flatMap { LogFormat(rawValue: $0.lowercased()) } ?? .text
    }

    /// Bootstraps swift-log once for the process and returns a logger with this label.
    public func makeLogger(label: String) -> Logger {
        LogBootstrap.once(format: resolvedFormat)
        var logger = Logger(label: label)
        logger.logLevel = resolvedLevel
        return logger
    }
}

/// Where the service's database is: the flag, else the service's `<NAME>_DATABASE_URL` variable.
public struct DatabaseOptions<Service: SagaParticipant>: ParsableArguments {
    @Option(help: ArgumentHelp(
        "PostgreSQL URL or connection string of this service's own database. [env: \(Service.databaseURLVariable)]",
        discussion: "Keep the password out of the command line: put it in the variable, PGPASSWORD or PGPASSFILE. sslmode, sslrootcert and the other libpq settings are honoured."
    ))
    public var databaseURL: String?

    public init() {}

    public func config() throws -> PGConfig {
        guard let url = Environment.value(flag: databaseURL, variable: Service.databaseURLVariable) else {
            throw ValidationError("no database: pass --database-url or set \(Service.databaseURLVariable)")
        }
        return PGConfig(url, applicationName: Service.name)
    }

    /// Connects to the service's database with a logger from `logging`, runs `body` and closes the connection.
    public func withConnection<T>(logging: LoggingOptions, _ body: (PGConnection) async throws -> T) async throws -> T {
        try await PGConnection.withConnection(try config(), logger: logging.makeLogger(label: Service.name), body)
    }
}

/// How to reach Kafka, and any librdkafka property.
public struct KafkaOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers, host:port[,host:port]. [env: SAGAKIT_BOOTSTRAP_SERVERS]")
    public var bootstrapServers: String?

    @Option(name: .customLong("kafka-property"), help: ArgumentHelp(
        "A librdkafka property for every client, key=value; repeatable. [env: SAGAKIT_KAFKA_PROPERTIES, ';'-separated, '\\;' for a ';' in a value]",
        discussion: "TLS and SASL go here (security.protocol, ssl.ca.location, sasl.mechanism, ...). Unknown keys or bad values stop start-up with librdkafka's message.",
        valueName: "key=value"))
    public var properties: [String] = []

    @Option(name: .customLong("kafka-producer-property"), help: ArgumentHelp(
        "A librdkafka property for producers only; repeatable. [env: SAGAKIT_KAFKA_PRODUCER_PROPERTIES, ';'-separated, '\\;' for a ';' in a value]", valueName: "key=value"))
    public var producerProperties: [String] = []

    @Option(name: .customLong("kafka-consumer-property"), help: ArgumentHelp(
        "A librdkafka property for consumers only; repeatable. [env: SAGAKIT_KAFKA_CONSUMER_PROPERTIES, ';'-separated, '\\;' for a ';' in a value]", valueName: "key=value"))
    public var consumerProperties: [String] = []

    @Option(help: ArgumentHelp(
        "A file of key=value lines applied to every client, for secrets such as sasl.password. [env: SAGAKIT_KAFKA_PROPERTIES_FILE]",
        valueName: "path"))
    public var kafkaPropertiesFile: String?

    @Option(help: "Prefix for every topic name, so several stacks can share a cluster. [env: SAGAKIT_TOPIC_PREFIX]")
    public var topicPrefix: String?

    public init() {}

    /// Layers: environment, then the file, then flags.
    public func configuration() throws -> KafkaConfiguration {
        guard let servers = Environment.value(flag: bootstrapServers, variable: "SAGAKIT_BOOTSTRAP_SERVERS") else {
            throw ValidationError("no Kafka: pass --bootstrap-servers or set SAGAKIT_BOOTSTRAP_SERVERS")
        }
        // A variable separates entries with `;` (`\;` inside a value); a file has one per line and a flag one per
        // use, so a secret holding `;` needs no escape there. A malformed entry is a usage error (exit 2).
        func parse(_ text: String, _ source: String, semicolons: Bool) throws -> [String: String] {
            do {
                return try KafkaConfiguration.parseProperties(text, semicolons: semicolons)
            } catch let error as KafkaError {
                throw ValidationError("\(source): \(error.message)")
            }
        }
        func layer(_ variable: String, _ option: String, _ flags: [String]) throws -> [String: String] {
            var result = try parse(Environment.value(variable) ?? "", variable, semicolons: true)
            result.merge(try parse(flags.joined(separator: "\n"), option, semicolons: false)) { $1 }
            return result
        }
        var shared = try parse(Environment.value("SAGAKIT_KAFKA_PROPERTIES") ?? "", "SAGAKIT_KAFKA_PROPERTIES", semicolons: true)
        if let path = Environment.value(flag: kafkaPropertiesFile, variable: "SAGAKIT_KAFKA_PROPERTIES_FILE") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read the Kafka properties file \(path)")
            }
            shared.merge(try parse(text, "the Kafka properties file \(path)", semicolons: false)) { $1 }
        }
        shared.merge(try parse(properties.joined(separator: "\n"), "--kafka-property", semicolons: false)) { $1 }
        return KafkaConfiguration(
            bootstrapServers: servers, properties: shared,
            producerProperties: try layer("SAGAKIT_KAFKA_PRODUCER_PROPERTIES", "--kafka-producer-property", producerProperties),
            consumerProperties: try layer("SAGAKIT_KAFKA_CONSUMER_PROPERTIES", "--kafka-consumer-property", consumerProperties)
        )
    }

    public var topics: TopicNames {
        TopicNames(prefix: Environment.value(flag: topicPrefix, variable: "SAGAKIT_TOPIC_PREFIX") ?? "")
    }
}

/// Throughput and timing knobs of `run`; the defaults suit most deployments.
public struct RuntimeOptions: ParsableArguments {
    @Option(help: "Events handled per consumer transaction, at most; 1 to 100000.")
    public var batchSize: Int = 200

    @Option(help: "Outbox rows per relay batch; 1 to 100000.")
    public var relayBatchSize: Int = 500

    @Option(help: "Milliseconds between relay polls when no notification arrives; 1 to 3600000.")
    public var relayPollMs: Int = 500

    @Option(help: "Under load, milliseconds between the starts of two relay batches: fewer, larger produce requests for up to this much latency. 0: publish as soon as the previous batch is acknowledged; at most 60000. [env: SAGAKIT_RELAY_LINGER_MS] (default: 0)")
    public var relayLingerMs: Int?

    @Option(help: "Seconds a relay's lease lasts, 1 to 3600; a standby takes over this long after the active relay dies.")
    public var leaseSeconds: Int = 5

    @Option(help: "Hours published outbox rows are kept, for `outbox republish`; 1 to 87600.")
    public var outboxRetentionHours: Int = 168

    @Option(help: "Hours inbox rows are kept, 1 to 87600; replays reaching further back are refused.")
    public var inboxRetentionHours: Int = 168

    @Flag(help: "Don't send the NOTIFY wake-up with outbox appends; the relay then finds rows by polling only.")
    public var noNotify = false

    @Flag(help: "Don't apply pending migrations before running.")
    public var noMigrate = false

    @Flag(help: "Don't run the outbox relay (run it in a process of its own with --no-consumers).")
    public var noRelay = false

    @Flag(help: "Don't run the consumers; relay only.")
    public var noConsumers = false

    public init() {}

    /// Bounds that keep every value a setting, not an accident: a lease of years overflows PostgreSQL's interval, a
    /// retention of zero hours deletes what replay and republish need at the next maintenance.
    public func validate() throws {
        guard (1...100_000).contains(batchSize), (1...100_000).contains(relayBatchSize) else {
            throw ValidationError("--batch-size and --relay-batch-size must be 1 to 100000")
        }
        guard (1...3_600_000).contains(relayPollMs) else { throw ValidationError("--relay-poll-ms must be 1 to 3600000") }
        guard (1...3600).contains(leaseSeconds) else { throw ValidationError("--lease-seconds must be 1 to 3600") }
        guard (1...87_600).contains(outboxRetentionHours), (1...87_600).contains(inboxRetentionHours) else {
            throw ValidationError("--outbox-retention-hours and --inbox-retention-hours must be 1 to 87600 (ten years)")
        }
        guard (0...60_000).contains(relayLingerMs ?? 0) else { throw ValidationError("--relay-linger-ms must be 0 to 60000") }
        if relayLingerMs == nil, let raw = Environment.value("SAGAKIT_RELAY_LINGER_MS"), !(0...60_000).contains(Int(raw) ?? -1) {
            throw ValidationError("SAGAKIT_RELAY_LINGER_MS must be 0 to 60000 milliseconds, not '\(raw)'")
        }
        guard !(noRelay && noConsumers) else { throw ValidationError("--no-relay and --no-consumers together leave nothing to run") }
    }

    public var relayConfiguration: OutboxRelayConfiguration {
        var config = OutboxRelayConfiguration()
        config.batchSize = relayBatchSize
        config.pollInterval = .milliseconds(relayPollMs)
        config.linger = .milliseconds(relayLingerMs ?? Environment.value("SAGAKIT_RELAY_LINGER_MS").flatMap(Int.init) ?? 0)
        config.leaseDuration = .seconds(leaseSeconds)
        config.outboxRetention = .seconds(outboxRetentionHours * 3600)
        config.inboxRetention = .seconds(inboxRetentionHours * 3600)
        return config
    }
}
