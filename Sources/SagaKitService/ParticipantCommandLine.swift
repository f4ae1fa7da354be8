import ArgumentParser
import Hummingbird
import Logging
import PGClient
import SagaKit

/// A participant's own flags: parsed by its executable, turned into the participant's plain `Configuration`.
public protocol ParticipantOptions: ParsableArguments {
    associatedtype Configuration: Sendable
    /// Flags first, then the environment, then defaults; a bad value is a `ValidationError` (exit 2).
    func configuration() throws -> Configuration
}

extension ParticipantOptions {
    /// Builds the configuration once while parsing, so a bad value stops the command as a usage error before it
    /// connects to anything.
    public func validate() throws {
        _ = try configuration()
    }
}

/// No flags of its own.
public struct NoOptions: ParticipantOptions {
    public init() {}
    public func configuration() -> NoConfiguration { NoConfiguration() }
}

/// A participant with a command line: the executable declares its options type, and `run`, `outbox` and
/// `replay` build the participant's consumers from them. Declared in the executable, so the participant's
/// module never sees ArgumentParser.
public protocol CommandLineParticipant: SagaParticipant {
    associatedtype Options: ParticipantOptions = NoOptions where Options.Configuration == Configuration

    /// Routes of the participant's own on the HTTP server `run` starts, beside `/metrics` and the health checks
    /// (the tracker's console). None by default. `access` is nil unless `run --allow-actions`.
    static func httpRoutes(options: Options, database: PGConfig, access: OperatorAccess?, logger: Logger) throws -> HTTPRoutes
}

/// Adds routes to a router: what `CommandLineParticipant.httpRoutes` returns.
public typealias HTTPRoutes = @Sendable (Router<BasicRequestContext>) -> Void

extension CommandLineParticipant {
    public static func httpRoutes(options: Options, database: PGConfig, access: OperatorAccess?, logger: Logger) throws -> HTTPRoutes {
        { _ in }
    }
}

extension CommandLineParticipant {
    /// The consumers, configured from parsed options.
    static func consumers(options: Options, topics: TopicNames, logger: Logger) throws -> [ConsumerDefinition] {
        try consumers(ParticipantContext(configuration: options.configuration(), topics: topics, logger: logger))
    }
}

extension CommandLineParticipant {
    /// The root command of the participant's binary, named after it: `run`, `migrate`, the binary's own
    /// `commands`, `outbox`, `compensations`, `replay` and `dead-letters`.
    public static func commandConfiguration(
        abstract: String, discussion: String = "", commands: [any ParsableCommand.Type] = []
    ) -> CommandConfiguration {
        CommandConfiguration(
            commandName: executableName, abstract: abstract, discussion: discussion,
            subcommands: [RunCommand<Self>.self, MigrateCommand<Self>.self] + commands + [OutboxCommand<Self>.self, CompensationsCommand<Self>.self, ReplayCommand<Self>.self, DeadLettersCommand<Self>.self]
        )
    }
}
