import ArgumentParser
import Foundation
import KafkaClient
import Logging
import PGClient
import SagaKit

/// `<service> dead-letters list|show|redrive`: what this service refused, read from its `.dlq` topics.
public struct DeadLettersCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "dead-letters",
            abstract: "See what the \(Service.name) service dead-lettered, and put messages back on their topic after a fix.",
            discussion: """
                Reads the dead-letter topics (<topic>.dlq) of the topics the service consumes, from the beginning, \
                and keeps what this service refused. Payloads are never shown: only their size, and the event's \
                type, id and saga when the message is an event. Ids are <dlq topic>:<partition>:<offset>.
                """,
            subcommands: [DeadLettersListCommand<Service>.self, DeadLettersShowCommand<Service>.self, DeadLettersRedriveCommand<Service>.self]
        )
    }

    public init() {}
}

/// What every `dead-letters` subcommand reads with: Kafka, the service's own options (for its consumers'
/// topics), logging and `--json`.
public struct DeadLetterSource<Service: CommandLineParticipant>: ParsableArguments {
    @Flag(help: "Print JSON.") public var json = false
    @OptionGroup public var kafka: KafkaOptions
    @OptionGroup public var service: Service.Options
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    var logger: Logger {
        var options = logging
        // librdkafka's and the reader's info lines would drown a listing.
        if options.logLevel == nil && Environment.value("SAGAKIT_LOG_LEVEL") == nil { options.logLevel = .warning }
        return options.makeLogger(label: Service.name)
    }

    /// The physical topics the service's consumers read.
    func consumedTopics() throws -> [String] {
        let topics = kafka.topics
        return try Service.consumers(options: service, topics: topics, logger: logger).flatMap(\.topics).map { topics($0) }
    }

    func reader() throws -> DeadLetterReader {
        DeadLetterReader(service: Service.name, consumedTopics: try consumedTopics(), kafka: try kafka.configuration(), logger: logger)
    }

    /// `--source-topic` by its logical name, as a physical one; a topic the service does not read is a usage error.
    func sourceTopic(_ logical: String?) throws -> String? {
        guard let logical else { return nil }
        let physical = kafka.topics(logical)
        let consumed = try consumedTopics()
        guard consumed.contains(physical) else {
            throw ValidationError("--source-topic: the \(Service.name) service does not consume \(logical); it consumes \(Set(consumed).sorted().joined(separator: ", "))")
        }
        return physical
    }
}

/// `--since`, `--source-topic`, `--limit`: which dead letters `list` and `redrive --all` take.
public struct DeadLetterFilterOptions: ParsableArguments {
    @Option(help: "Only those dead-lettered at or after this time: RFC 3339, or an age such as 30m, 2h, 7d.")
    public var since: TimeArgument?
    @Option(help: "Only those from this topic, by its logical name (orders, inventory, payment, notification).")
    public var sourceTopic: String?
    @Option(help: "At most this many, newest first. (default: 100)")
    public var limit: Int = 100

    public init() {}

    public func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
    }
}

/// `<service> dead-letters list`.
public struct DeadLettersListCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "list", abstract: "The dead letters of the \(Service.name) service, newest first.",
                             discussion: "Exits 0 with an empty list when there are none.")
    }

    @OptionGroup public var filter: DeadLetterFilterOptions
    @OptionGroup public var source: DeadLetterSource<Service>

    public init() {}

    public func run() async throws {
        let topic = try source.sourceTopic(filter.sourceTopic)
        let letters = DeadLetterFilter(since: filter.since?.date, sourceTopic: topic, limit: filter.limit)
            .apply(try await source.reader().read().map(\.letter))
        print(source.json ? try JSONOutput.string(letters) : DeadLetterText.list(letters))
    }
}

/// `<service> dead-letters show ID`.
public struct DeadLettersShowCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "show", abstract: "One dead letter: where it came from, why, and its header names (never the payload).",
                             discussion: "Exits 1 when the service has no dead letter with that id.")
    }

    @Argument(help: "The dead letter's id: <dlq topic>:<partition>:<offset>, as `list` shows it.")
    public var id: String

    @OptionGroup public var source: DeadLetterSource<Service>

    public init() {}

    public func validate() throws {
        try DeadLetterText.validateIDs([id])
    }

    public func run() async throws {
        let letter: DeadLetter
        do {
            letter = try await source.reader().find([id])[0].letter
        } catch let missing as DeadLetterReader.NotFound {
            throw CommandFailure(missing.description)
        }
        print(source.json ? try JSONOutput.string(letter) : DeadLetterText.show(letter))
    }
}

/// `<service> dead-letters redrive`.
public struct DeadLettersRedriveCommand<Service: CommandLineParticipant>: AsyncParsableCommand {
    public static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "redrive",
            abstract: "Put dead letters back on their source topic, after the cause was fixed.",
            discussion: """
                Publishes each message as it was (key, value, its original headers, plus sagakit-redriven-from and \
                sagakit-redriven-by) to the partition it came from, waits for the broker's acknowledgement and \
                records who redrove what in the service's audit log (sagakit_audit_log). The inbox makes a repeat \
                harmless: an event is applied at most once. A dead letter that holds only part of its message \
                (over 64 KiB) cannot be redriven; replay its source topic instead. --dry-run publishes and \
                records nothing. On a cluster with ACLs only a topic's owner may write it: run this with the \
                admin's Kafka credentials (docs/OPERATIONS.md).
                """
        )
    }

    @Argument(help: "Dead-letter ids (<dlq topic>:<partition>:<offset>), as `list` shows them.")
    public var ids: [String] = []

    @Flag(help: "Every dead letter the filters select, instead of ids.")
    public var all = false

    @OptionGroup public var filter: DeadLetterFilterOptions

    @Flag(help: "Say what would be redriven; publish and record nothing.")
    public var dryRun = false

    @Option(help: "Who redrives, for the audit log. [env: SAGAKIT_OPERATOR, else the OS user]")
    public var by: String?

    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var source: DeadLetterSource<Service>

    public init() {}

    public func validate() throws {
        guard all != !ids.isEmpty else { throw ValidationError(all ? "give either ids or --all, not both" : "give the ids of the dead letters to redrive, or --all") }
        if !all && (filter.since != nil || filter.sourceTopic != nil) {
            throw ValidationError("--since and --source-topic select dead letters for --all; with ids, leave them out")
        }
        try DeadLetterText.validateIDs(ids)
        if let by, by.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--by must name someone") }
    }

    public func run() async throws {
        let logger = source.logger
        let reader = try source.reader()
        let selected: [StoredDeadLetter]
        if all {
            let topic = try source.sourceTopic(filter.sourceTopic)
            let stored = try await reader.read()
            let byID = Dictionary(stored.map { ($0.letter.id, $0) }) { first, _ in first }
            let letters = DeadLetterFilter(since: filter.since?.date, sourceTopic: topic, limit: filter.limit).apply(stored.map(\.letter))
            // Oldest first, so a saga's letters go back in the order they were refused.
            selected = letters.reversed().compactMap { byID[$0.id] }
        } else {
            do {
                selected = try await reader.find(ids)
            } catch let missing as DeadLetterReader.NotFound {
                throw CommandFailure(missing.description)
            }
        }
        // Refuse before publishing anything when one of them cannot go.
        for stored in selected {
            do {
                _ = try DeadLetterRedrive.message(for: stored, actor: "")
            } catch {
                throw CommandFailure(error.description)
            }
        }
        let actor = by ?? AuditLog.defaultActor()
        let kafkaConfiguration = try source.kafka.configuration()
        let clientID = "\(Service.name)-redrive"
        let producer = try ProducerHandle(logger: logger) {
            try KafkaProducer(configuration: kafkaConfiguration, clientID: clientID, logger: logger)
        }
        var outcomes: [DeadLetterRedrive.Outcome] = []
        do {
            try await database.withConnection(logging: source.logging) { db in
                for stored in selected {
                    outcomes.append(try await DeadLetterRedrive.redrive(stored, actor: actor, dryRun: dryRun, producer: producer, db: db))
                }
            }
        } catch {
            await producer.close()
            if !outcomes.isEmpty { print(source.json ? try JSONOutput.string(outcomes) : DeadLetterText.redriven(outcomes)) }
            throw error
        }
        await producer.close()
        print(source.json ? try JSONOutput.string(outcomes) : DeadLetterText.redriven(outcomes))
    }
}

/// The dead-letter commands' text output.
enum DeadLetterText {
    static func validateIDs(_ ids: [String]) throws {
        for id in ids where DeadLetter.parseID(id) == nil {
            throw ValidationError("'\(id.prefix(200))' is not a dead-letter id (<dlq topic>:<partition>:<offset>)")
        }
    }

    static func list(_ letters: [DeadLetter]) -> String {
        guard !letters.isEmpty else { return "no dead letters" }
        return Table(["ID", "TIME", "SOURCE", "KEY", "EVENT", "REASON"], letters.map { letter in
            [letter.id, letter.time.map(RFC3339.format) ?? "-", letter.source, letter.key.map { String($0.prefix(40)) } ?? "-",
             letter.eventType ?? "-", String(letter.reason.prefix(80))]
        }).rendered
    }

    static func show(_ letter: DeadLetter) -> String {
        var lines = ["dead letter \(letter.id)"]
        func row(_ label: String, _ value: String) { lines.append("  " + label.padding(toLength: 15, withPad: " ", startingAt: 0) + value) }
        row("refused by", "\(letter.service) (consumer \(letter.consumer))")
        row("at", letter.time.map(RFC3339.format) ?? "-")
        row("reason", letter.reason)
        row("source", "\(letter.sourceTopic) partition \(letter.sourcePartition) offset \(letter.sourceOffset)")
        let keyCut = letter.keyTruncatedFrom.map { size in " (first \(DeadLetters.maxKeyBytes) of \(size) bytes)" } ?? ""
        row("key", letter.key.map { key in key + keyCut } ?? "-")
        row("saga", letter.sagaID ?? "-")
        row("event", letter.eventType.map { "\($0) \(letter.eventID ?? "")" } ?? "- (not an event envelope)")
        let value = letter.valueBytes.map { "\($0) bytes, redacted" } ?? "none"
        row("value", value + (letter.valueTruncatedFrom.map { "; cut from \($0) bytes: cannot be redriven" } ?? ""))
        if letter.headersDropped > 0 { row("dropped", "\(letter.headersDropped) original headers") }
        row("headers", letter.headerNames.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    static func redriven(_ outcomes: [DeadLetterRedrive.Outcome]) -> String {
        guard !outcomes.isEmpty else { return "no dead letters to redrive" }
        let dry = outcomes.first?.dryRun == true
        var lines = [Table(["ID", "SAGA", "TO", "OFFSET", "EARLIER REDRIVES"], outcomes.map { outcome in
            [outcome.id, outcome.sagaID ?? "-", "\(outcome.topic):\(outcome.partition)", outcome.offset.map(String.init) ?? "-", "\(outcome.previousRedrives)"]
        }).rendered]
        lines.append(dry ? "dry run: nothing published or recorded" : "redriven by \(outcomes[0].actor): \(outcomes.count) dead letter(s); the inbox applies each event at most once")
        return lines.joined(separator: "\n")
    }
}
