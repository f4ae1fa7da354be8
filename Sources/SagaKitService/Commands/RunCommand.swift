import ArgumentParser
import Foundation
import KafkaClient
import Logging
import PGClient
import SagaKit
import ServiceLifecycle
import UnixSignals

/// `<service> run`: migrations, then the outbox relay and the consumers until SIGTERM or SIGINT.
public struct RunCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "run",
            abstract: "Run the \(Service.name) service: its consumers and its outbox relay.",
            discussion: """
                Applies pending migrations, then consumes its topics and relays its outbox until SIGTERM or SIGINT. \
                On either signal it stops polling, finishes the batch in hand, commits its offsets, flushes the \
                producer and exits 0.
                """
        )
    }

    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var kafka: KafkaOptions
    @OptionGroup public var runtime: RuntimeOptions
    @OptionGroup public var service: Service.Options
    @OptionGroup public var http: HTTPOptions<Service>
    @OptionGroup public var operatorOptions: OperatorOptions
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let logger = logging.makeLogger(label: Service.name)
        try CrashPoint.checkEnvironment()
        let deadLetterSagas = try FaultMatcher.resolve(flag: nil, option: DeadLetterFault.variable, variable: DeadLetterFault.variable)
        let httpAddress = try http.address()
        if let httpAddress { try ObservabilityServer.checkAvailable(httpAddress) }
        // Metrics and the tracer first: what the relay and consumers make below binds to them. Without the
        // bootstrap (`--no-metrics`) every metric is swift-metrics' no-op one.
        let registry = try http.metricsEnabled() ? PrometheusMetrics.bootstrap() : nil
        if registry == nil { logger.notice("metrics: off (--no-metrics or SAGAKIT_METRICS=off): no /metrics") }
        let tracing = try OTelTracing.bootstrap(serviceName: Service.executableName, environment: ProcessInfo.processInfo.environment, logger: logger)
        let health = ServiceHealth()
        let db = try database.config()
        let kafkaConfiguration = try kafka.configuration()
        let topics = kafka.topics
        try KafkaConsumer.validate(configuration: kafkaConfiguration)
        if !runtime.noMigrate {
            for line in try await Service.migrate(db, logger: logger) { logger.info("migration applied: \(line)") }
        }
        let clientID = Service.name
        let producer = try ProducerHandle(logger: logger) {
            try KafkaProducer(configuration: kafkaConfiguration, clientID: clientID, logger: logger)
        }
        // Started in this order, stopped in reverse: the exporter and the HTTP server outlive the rest.
        var services: [any ServiceLifecycle.Service] = []
        if let tracing { services.append(tracing) }
        if let httpAddress {
            let access = try operatorOptions.access()
            if access != nil { logger.notice("operator actions: on (--allow-actions): POST /operator/... with the bearer token") }
            let own = try Service.httpRoutes(options: service, database: db, access: access, logger: logger)
            let operatorRoutes = try operatorRoutes(access: access, database: db, kafka: kafkaConfiguration, producer: producer, logger: logger)
            services.append(ObservabilityServer(address: httpAddress, registry: registry, health: health, database: db, logger: logger) { router in
                own(router)
                operatorRoutes.mount(on: router)
            })
        }
        if !runtime.noRelay {
            services.append(OutboxRelay(configuration: runtime.relayConfiguration, database: db, producer: producer, logger: logger, health: health))
        }
        let definitions = runtime.noConsumers ? [] : try Service.consumers(options: service, topics: topics, logger: logger)
        if !deadLetterSagas.isEmpty, !definitions.isEmpty {
            logger.notice("fault option: dead-lettering every event of the sagas that match \(deadLetterSagas) (\(DeadLetterFault.variable))")
        }
        for definition in definitions {
            var configuration = ConsumerConfiguration(
                name: definition.name, groupID: topics.groupID(service: Service.name, consumer: definition.name),
                topics: definition.topics.map { topics($0) }
            )
            configuration.batchSize = runtime.batchSize
            configuration.notifyOnEmit = !runtime.noNotify
            configuration.topicNames = topics
            configuration.deadLetterSagas = deadLetterSagas
            services.append(EventConsumer(
                configuration: configuration, serviceName: Service.name, kafka: kafkaConfiguration, database: db,
                registry: Service.registry, handlers: definition.handlers, producer: producer, logger: logger, health: health
            ))
        }
        services += try Service.backgroundServices(
            ParticipantContext(configuration: service.configuration(), topics: topics, logger: logger), database: db, kafka: kafkaConfiguration)
        logger.info("\(Service.name) starting", metadata: [
            "database": .string(db.redacted), "bootstrap_servers": .string(kafkaConfiguration.bootstrapServers),
            "topic_prefix": .string(topics.prefix),
        ])
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            await producer.close()
            throw error
        }
        await producer.close()
        logger.info("\(Service.name) stopped")
    }
}

extension RunCommand {
    /// The actions the console forwards, with what `run` has: its producer, its handlers, its `.dlq` topics.
    func operatorRoutes(
        access: OperatorAccess?, database: PGConfig, kafka: KafkaConfiguration, producer: ProducerHandle, logger: Logger
    ) throws -> OperatorRoutes {
        // Built as `compensations retry` builds them: quietly, since `run` already logged the fault options.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let context = ParticipantContext(configuration: try service.configuration(), topics: self.kafka.topics, logger: quiet)
        let handlers = try CompensationHandlers(Service.self, context: context)
        let consumed = handlers.consumers.flatMap(\.topics).map { self.kafka.topics($0) }
        let reader = DeadLetterReader(service: Service.name, consumedTopics: consumed, kafka: kafka, logger: logger)
        return OperatorRoutes(
            service: Service.name, access: access, database: database, producer: producer, reader: reader, handlers: handlers, logger: logger)
    }
}

/// `<service> migrate`: apply pending migrations and list them.
public struct MigrateCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations (SagaKit's tables, then the \(Service.name) service's), each once, in order.")
    }

    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let logger = logging.makeLogger(label: Service.name)
        let applied = try await Service.migrate(try database.config(), logger: logger)
        print(applied.isEmpty ? "migrations: up to date" : applied.map { "applied \($0)" }.joined(separator: "\n"))
    }
}
