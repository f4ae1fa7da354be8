import ArgumentParser
import Foundation
import SagaKit
import SagaKitService
import Tracker

/// `saga-tracker dead-letters`: every service's dead letters as the tracker recorded them (the default), and, as
/// for every participant, `list`, `show` and `redrive` for the tracker's own.
struct TrackerDeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Dead letters of every service, as the tracker recorded them; list, show and redrive the tracker's own.",
        discussion: """
            Without a subcommand: every service's dead letters from the tracker's table (filled by `saga-tracker run` \
            from the .dlq topics), newest first. `list`, `show` and `redrive` read the tracker's own dead letters \
            from the topics, as every service's `dead-letters` does; redrive another service's with that service's \
            binary.
            """,
        subcommands: [
            AllDeadLettersCommand.self, DeadLettersListCommand<Tracker>.self, DeadLettersShowCommand<Tracker>.self,
            DeadLettersRedriveCommand<Tracker>.self,
        ],
        defaultSubcommand: AllDeadLettersCommand.self
    )
}

struct AllDeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "all", abstract: "Every service's dead letters, newest first (the default).",
        discussion: "Exits 0 with an empty list when none match.")

    @Option(help: "Only those this service refused (inventory, payment, notification, tracker, ...).") var service: String?
    @Option(help: "Only those of this saga (order id).") var saga: String?
    @Option(help: "At most this many. (default: 100)") var limit: Int = 100
    @OptionGroup var report: ReportOptions<Tracker>

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        if let service, service.isEmpty { throw ValidationError("--service must name a service") }
    }

    func run() async throws {
        try await report.print({ try await DeadLetterStore.list(service: service, sagaID: saga, limit: limit, on: $0) }) { letters in
            guard !letters.isEmpty else { return "no dead letters" }
            return Table(["ID", "TIME", "SERVICE", "SAGA", "SOURCE", "EVENT", "REASON"], letters.map { letter in
                [letter.id, letter.time.map(RFC3339.format) ?? "-", letter.service, letter.sagaID.map { String($0.prefix(40)) } ?? "-",
                 "\(letter.sourceTopic):\(letter.sourcePartition):\(letter.sourceOffset)", letter.eventType ?? "-", String(letter.reason.prefix(80))]
            }).rendered
        }
    }
}
