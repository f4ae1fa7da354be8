import ArgumentParser
import Foundation
import Logging
import OrderSaga
import PGClient
import SagaKit
import SagaKitService
import Tracker

@main
struct SagaTrackerCommand: RootCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga-tracker",
        abstract: "Start order sagas and see where each one is.",
        discussion: """
            The tracker derives every saga's status from the events on the wire: no participant reports to it. \
            `run` keeps the projection up to date and relays started orders; the other commands read it. \
            Exit codes: 0 success, 1 not found or failed, 2 usage error.
            """,
        subcommands: [
            StartCommand.self, StatusCommand.self, ListCommand.self, StuckCommand.self, StatsCommand.self,
            RunCommand<Tracker>.self, ServeCommand.self, RebuildCommand.self, ReplayCommand<Tracker>.self, MigrateCommand<Tracker>.self, OutboxCommand<Tracker>.self,
            TrackerDeadLettersCommand.self,
        ]
    )
}

struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start an order saga and return at once with how to follow it.",
        discussion: "The order and its OrderPlaced event commit together; the running tracker publishes the event. The order id is the saga id: starting an id twice starts one saga. A declined payment or a failed confirmation, for a demo or a test, comes from the participants' fault options, by order id (payment-service run --decline-orders, notification-service run --fail-confirmations), never from the order."
    )

    @Option(help: "The order id, which becomes the saga id: 1 to 128 bytes, no control characters.") var orderId: String
    @Option(help: "The SKU to order: 1 to 128 bytes, no control characters.") var sku: String
    @Option(help: "Units to order: 1 to 2147483647.") var quantity: Int
    @Option(help: "The order total, e.g. 59.99: positive, at most two decimals, at most \(OrderRequest.maxAmount).", transform: Money.parse) var amount: Money
    @Option(help: "ISO 4217 currency code. (default: USD)") var currency: String = "USD"
    @Option(help: "Where the confirmation goes: a plausible address (name@example.com), at most 254 bytes.") var email: String
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var database: DatabaseOptions<Tracker>
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var logging: LoggingOptions

    var request: OrderRequest {
        OrderRequest(orderID: orderId, sku: sku, quantity: quantity, amount: amount, currency: currency, email: email)
    }

    /// The intake's own checks, as usage errors (exit 2, one line naming the option, never echoing the value).
    func validate() throws {
        do {
            try request.validate()
        } catch let error as OrderRequestError {
            throw ValidationError("\(error.field.option) \(error.problem)")
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        try CrashPoint.checkEnvironment()
        // The intake's span is the root of the saga's trace: exported before the command returns, when asked for.
        let logger = logging.makeLogger(label: Tracker.name)
        let tracing = try OTelTracing.bootstrap(
            serviceName: Tracker.executableName, environment: ProcessInfo.processInfo.environment, logger: logger, announce: .debug)
        let outcome = try await OTelTracing.exporting(tracing, logger: logger) {
            try await database.withConnection(logging: logging) { try await OrderIntake.start(request, topics: kafka.topics, on: $0) }
        }
        let follow = "saga-tracker status \(orderId)"
        switch outcome {
        case .accepted(_, let at):
            if json {
                print(try JSONOutput.string(StartOutput(sagaId: orderId, accepted: true, alreadyStarted: false, startedAt: at, status: follow)))
            } else {
                print("accepted: saga \(orderId) started at \(RFC3339.format(at))\nfollow it with: \(follow)")
            }
        case .alreadyStarted(let at, let same):
            if !same {
                throw CommandFailure("saga \(orderId) was already started at \(RFC3339.format(at)) with different details; not started again")
            }
            if json {
                print(try JSONOutput.string(StartOutput(sagaId: orderId, accepted: false, alreadyStarted: true, startedAt: at, status: follow)))
            } else {
                print("already started: saga \(orderId) started at \(RFC3339.format(at)); not started again\nfollow it with: \(follow)")
            }
        }
    }

    struct StartOutput: Encodable {
        var sagaId: String
        var accepted: Bool
        var alreadyStarted: Bool
        var startedAt: Date
        var status: String
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A saga's state, steps, compensations, error and timeline.",
        discussion: "Exits 1 with a message when the tracker has no event of the saga."
    )

    @Argument(help: "The saga id (the order id).") var sagaId: String
    @Flag(help: "Print JSON: saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps, compensations, error, event_count, timeline, dead_letters.")
    var json = false
    @OptionGroup var database: DatabaseOptions<Tracker>
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let (report, absence) = try await database.withConnection(logging: logging) { db -> (SagaStatusReport?, String?) in
            guard let report = try await ProjectionStore.statusReport(sagaID: sagaId, on: db) else {
                return (nil, try await ProjectionStore.absence(sagaID: sagaId, on: db))
            }
            return (report, nil)
        }
        guard let report else { throw CommandFailure("saga \(sagaId) not found\(absence.map { ": \($0)" } ?? "")") }
        var text = StatusText.status(report.status)
        if report.deadLetters > 0 {
            text += "\ndead letters: \(report.deadLetters) (saga-tracker dead-letters --saga \(sagaId))"
        }
        print(json ? try JSONOutput.string(report) : text)
    }
}

