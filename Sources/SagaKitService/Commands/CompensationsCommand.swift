import ArgumentParser
import Foundation
import Logging
import PGClient
import SagaKit

/// `<service> compensations list|retry|skip`: the compensations this service parked because they failed for good.
public struct CompensationsCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "compensations",
            abstract: "Compensations that failed for good and wait for an operator: list them, run one again, or skip it.",
            discussion: """
                A compensation that cannot apply (a refund the provider rejects, a release with nothing to release) is \
                parked in this service's database when it emits its failure event, and the saga shows \
                compensation_failed. 'retry' runs it again now, in this process, with this service's handlers and \
                configuration; 'skip' records that it will not happen, and why, so the saga goes on. Both write the \
                audit log (docs/OPERATIONS.md, "compensation_failed").
                """,
            subcommands: [CompensationsListCommand<Service>.self, CompensationsRetryCommand<Service>.self, CompensationsSkipCommand<Service>.self]
        )
    }

    public init() {}
}

public struct CompensationsListCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "list", abstract: "Parked compensations, oldest first.", discussion: "Exits 1 with a message when there is none.")
    }

    @Flag(help: "Resolved ones (retried, skipped) too.") public var all = false
    @Flag(help: "Print JSON: an array of parked compensations.") public var json = false
    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    public func run() async throws {
        let parked = try await database.withConnection(logging: logging) { try await ParkedCompensations.list(includeResolved: all, on: $0) }
        if json { print(try JSONOutput.string(parked)) }
        guard !parked.isEmpty else { throw CommandFailure(all ? "no compensations were ever parked" : "no parked compensations") }
        guard !json else { return }
        var header = ["ID", "SAGA", "COMPENSATION", "ATTEMPTS", "PARKED AT"]
        if all { header.append("STATUS") }
        header.append("REASON")
        let rows = parked.map { row -> [String] in
            var cells = [String(row.id), row.sagaID, row.compensation, String(row.attempts), RFC3339.format(row.parkedAt)]
            if all {
                let by: String = row.resolvedBy.map { " by \($0)" } ?? ""
                cells.append(row.status + by)
            }
            let skipped: String? = row.resolution.map { "\(row.reason) (skipped: \($0))" }
            cells.append(skipped ?? row.reason)
            return cells
        }
        print(Table(header, rows).rendered)
    }
}

/// What `retry` and `skip` share: which row, who acts, and the participant's handlers as `run` builds them.
public struct CompensationActionOptions<Service: CommandLineParticipant>: ParsableArguments {
    @Argument(help: "The parked compensation's id (`compensations list`).") public var id: Int64
    @Option(help: "Who acts, for the audit log. (default: SAGAKIT_OPERATOR, else the OS user)") public var by: String?
    @Flag(help: "Print JSON.") public var json = false
    @OptionGroup public var participant: ParticipantCommandOptions<Service>

    public init() {}

    public func validate() throws {
        if let by, by.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("--by must not be empty") }
    }

    /// Runs `action` with the handlers and the actor, prints its resolution, and fails (exit 1, one line) when the
    /// compensation failed again or there was nothing to act on.
    func perform(
        _ action: @Sendable (_ handlers: CompensationHandlers, _ actor: String, _ db: PGConnection) async throws -> CompensationResolution
    ) async throws {
        let logger = participant.makeLogger()
        // Building the handlers is `run`'s start-up, whose notices (a fault option set) would make a failure more
        // than its one line; the outcome says what happened.
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let handlers = try CompensationHandlers(
            Service.self, context: ParticipantContext(configuration: participant.service.configuration(), topics: participant.kafka.topics, logger: quiet))
        let actor = by ?? AuditLog.defaultActor()
        let resolution: CompensationResolution
        do {
            resolution = try await PGConnection.withConnection(try participant.database.config(), logger: logger) { try await action(handlers, actor, $0) }
        } catch let error as ParkedCompensationError {
            throw CommandFailure(error.description)
        }
        let subject = "compensation \(resolution.id) (\(resolution.compensation) for saga \(resolution.sagaID))"
        if json { print(try JSONOutput.string(resolution)) }
        guard resolution.succeeded else {
            throw CommandFailure("\(subject) failed again: \(resolution.reason ?? "?"); still parked after \(resolution.attempts) attempts")
        }
        if !json {
            let emitted = resolution.emitted.isEmpty ? "nothing" : resolution.emitted.joined(separator: ", ")
            print("\(subject) \(resolution.outcome) by \(actor); emitted \(emitted)")
        }
    }
}

public struct CompensationsRetryCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "retry", abstract: "Run a parked compensation again, now.",
            discussion: """
                Runs the compensation's handler in this process, with this service's configuration (its flags and \
                variables: without the fault option that made it fail, say). In one transaction it appends what the \
                handler emits to the outbox, marks the compensation retried and writes the audit log. If it fails \
                again it stays parked with one more attempt, and the command exits 1.
                """)
    }

    @OptionGroup public var options: CompensationActionOptions<Service>

    public init() {}

    public func run() async throws {
        let id = options.id
        try await options.perform { handlers, actor, db in
            try await ParkedCompensations.retry(id: id, actor: actor, handlers: handlers, on: db)
        }
    }
}

public struct CompensationsSkipCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "skip", abstract: "Decide that a parked compensation will not run, and say why.",
            discussion: """
                For a compensation done by hand or accepted. Emits the event that says the operator skipped it, with \
                the reason, so the saga goes on (the compensations before it in reverse order still run) and ends \
                compensated with "skipped by operator: <reason>" in its timeline; marks it skipped and writes the \
                audit log, in one transaction.
                """)
    }

    @Option(help: "Why, in your words: kept in the audit log and in the event.") public var reason: String
    @OptionGroup public var options: CompensationActionOptions<Service>

    public init() {}

    public func validate() throws {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("--reason must not be empty") }
    }

    public func run() async throws {
        let (id, reason) = (options.id, self.reason)
        try await options.perform { handlers, actor, db in
            try await ParkedCompensations.skip(id: id, reason: reason, actor: actor, handlers: handlers, on: db)
        }
    }
}
