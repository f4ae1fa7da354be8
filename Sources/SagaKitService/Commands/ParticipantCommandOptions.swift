import ArgumentParser
import Logging
import SagaKit

/// What a command that builds the participant's consumers or handlers outside `run` takes (`outbox recover`,
/// `replay`, `compensations retry|skip`): its database, Kafka, its own flags, so that it builds them as `run`
/// would, and logging.
public struct ParticipantCommandOptions<Service: CommandLineParticipant>: ParsableArguments {
    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var kafka: KafkaOptions
    @OptionGroup public var service: Service.Options
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    /// A logger labelled with the service's name.
    public func makeLogger() -> Logger {
        logging.makeLogger(label: Service.name)
    }

    /// The participant's consumers, as `run` builds them from the same flags.
    func consumers(logger: Logger) throws -> [ConsumerDefinition] {
        try Service.consumers(options: service, topics: kafka.topics, logger: logger)
    }
}
