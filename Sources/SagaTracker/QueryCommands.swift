import ArgumentParser
import Foundation
import Logging
import PGClient
import SagaKit
import SagaKitService
import Tracker

extension SagaState: ExpressibleByArgument {}

/// `step=duration`, for per-step deadlines.
struct StepDeadline: ExpressibleByArgument {
    let step: String
    let duration: Duration

    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, SagaProjectionSteps.all.contains(parts[0]), let duration = DurationArgument(argument: parts[1]) else { return nil }
        step = parts[0]
        self.duration = duration.duration
    }
}

enum SagaProjectionSteps {
    static let all = ["reserve_inventory", "charge_payment", "send_confirmation", "refund_payment", "release_inventory"]
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Sagas, newest first.", discussion: "Exits 1 with a message when no saga matches.")

    @Option(help: "Only sagas in this state: running, completed, compensating, compensated, failed, compensation_failed.")
    var state: SagaState?
    @Option(help: "Only sagas started at or after this time: RFC 3339, or an age such as 30m.") var since: TimeArgument?
    @Option(help: "At most this many. (default: 50)") var limit: Int = 50
    @Flag(help: "Print JSON: an array of saga rows.") var json = false
    @OptionGroup var database: DatabaseOptions<Tracker>
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let sagas = try await database.withConnection(logging: logging) {
            try await ProjectionStore.list(state: state?.rawValue, since: since?.date, limit: limit, on: $0)
        }
        if json { print(try JSONOutput.string(sagas)) }
        guard !sagas.isEmpty else { throw CommandFailure("no sagas match") }
        if !json { print(StatusText.list(sagas)) }
    }
}

struct StuckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stuck",
        abstract: "Running or compensating sagas with no event for longer than their step's deadline.",
        discussion: "Exits 1 with a message when none is stuck.")

    @Option(help: "The deadline for every step. (default: 30s)") var olderThan: DurationArgument?
    @Option(name: .customLong("deadline"), help: ArgumentHelp("A deadline for one step, e.g. send_confirmation=2m; repeatable.", valueName: "step=duration"))
    var deadlines: [StepDeadline] = []
    @Option(help: "At most this many, the longest silent first, 1 to 100000. (default: 1000)") var limit: Int = 1000
    @Flag(help: "Print JSON: an array of saga rows.") var json = false
    @OptionGroup var database: DatabaseOptions<Tracker>
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be 1 to 100000") }
    }

    func run() async throws {
        let now = Date()
        let sagas = try await database.withConnection(logging: logging) {
            try await ProjectionStore.stuck(
                defaultDeadline: olderThan?.duration ?? .seconds(30),
                deadlines: Dictionary(deadlines.map { ($0.step, $0.duration) }) { $1 }, limit: limit, now: now, on: $0)
        }
        if json { print(try JSONOutput.string(sagas)) }
        guard !sagas.isEmpty else { throw CommandFailure("no stuck sagas") }
        if !json { print(StatusText.stuck(sagas, now: now)) }
    }
}

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Sagas per state, and p50/p95/p99 time to a terminal state.")

    @OptionGroup var report: ReportOptions<Tracker>

    func run() async throws {
        try await report.print(ProjectionStore.stats, text: StatusText.stats)
    }
}

struct RebuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild the projection from the topics.",
        discussion: """
            Builds the projection anew in a schema of its own, from the tracker's outbox and every topic read from \
            the start by a consumer group of its own, showing progress; then swaps it in, in one transaction. The \
            live projection is untouched until then. Refuses while `saga-tracker run` is consuming (stop it first, \
            start it again afterwards), and, leaving the projection as it was, when the topics lack events the \
            projection has recorded: the broker lost data, and the outboxes should republish it first \
            (docs/OPERATIONS.md). `--force` rebuilds from what the topics hold anyway.
            """)

    @Flag(help: "Swap in the rebuilt projection even when the topics lack events the current one has recorded.")
    var force = false

    @OptionGroup var database: DatabaseOptions<Tracker>
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        var loggingOptions = logging
        if loggingOptions.logLevel == nil && Environment.value("SAGAKIT_LOG_LEVEL") == nil { loggingOptions.logLevel = .warning }
        let logger = loggingOptions.makeLogger(label: Tracker.name)
        do {
            let summary = try await ProjectionRebuild.rebuild(
                database: try database.config(), kafka: try kafka.configuration(), topics: kafka.topics, force: force, logger: logger
            ) { progress in
                let seconds = progress.elapsed.seconds
                let rate = seconds > 0 ? Double(progress.done) / seconds : 0
                FileHandle.standardError.write(Data("rebuild: \(progress.done)/\(progress.total) events (\(Int(rate))/s)\n".utf8))
            }
            let seconds = summary.elapsed.seconds
            let lost = summary.missing > 0 ? "; \(summary.missing) events the topics no longer hold were dropped (--force)" : ""
            print("rebuilt \(summary.sagas) sagas from \(summary.events) events in \(StatusText.duration(seconds)); caught up\(lost)")
        } catch let refused as ProjectionRebuild.Refused {
            throw CommandFailure(refused.description)
        }
    }
}
