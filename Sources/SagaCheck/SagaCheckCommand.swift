import ArgumentParser
import Checker
import Foundation
import Logging
import PGClient
import SagaKitService

/// `saga-check`: the order saga's invariants over every service's database and the topics, read-only.
@main
struct SagaCheckCommand: RootCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga-check",
        abstract: "Check the order saga's invariants across every service's database and the topics.",
        discussion: """
            Reads the four databases (through read-only roles: `infra/dev env` prints SAGA_CHECK_*_DATABASE_URL for \
            the local stack's `sagakit_check` role) and the topics, and checks: every saga terminal, or listed as in \
            flight with its age; stock conserved per SKU; money conserved; no effect applied twice; every committed \
            outbox row published; the topics hold every published event; the tracker's projection equal to what \
            the services' records imply, saga by saga; every effect belongs to a started order. Each violation \
            names the invariant, the saga and the rows involved. Sagas are read a page at a time: memory stays flat \
            however many there are. Run it with the services idle for a verdict on outboxes and in-flight sagas. \
            Exit codes: 0 no violation, 1 violations (or a database out of reach), 2 usage error.
            """
    )

    @Option(help: "The inventory service's database, read-only. [env: SAGA_CHECK_INVENTORY_DATABASE_URL]")
    var inventoryDatabaseURL: String?
    @Option(help: "The payment service's database, read-only. [env: SAGA_CHECK_PAYMENT_DATABASE_URL]")
    var paymentDatabaseURL: String?
    @Option(help: "The notification service's database, read-only. [env: SAGA_CHECK_NOTIFICATION_DATABASE_URL]")
    var notificationDatabaseURL: String?
    @Option(help: "The tracker's database, read-only. [env: SAGA_CHECK_TRACKER_DATABASE_URL]")
    var trackerDatabaseURL: String?

    @Flag(help: "A saga still in flight is a violation (for a stack whose load has stopped and gone quiet).")
    var requireTerminal = false

    @Option(help: "Outbox rows younger than this (an age: 30s, 2m) may still be on their way and are not violations.")
    var grace: String = "30s"

    @Option(help: "Sagas read per page.")
    var pageSize: Int = 5000

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...100_000).contains(pageSize) else { throw ValidationError("--page-size must be from 1 to 100000, not \(pageSize)") }
        guard let seconds = TimeArgument.parseAge(grace), seconds.isFinite, seconds <= 365 * 86400 else {
            throw ValidationError("--grace must be an age such as 30s or 2m, up to 365d, not '\(grace)'")
        }
    }

    func run() async throws {
        var loggingOptions = logging
        if loggingOptions.logLevel == nil && Environment.value("SAGAKIT_LOG_LEVEL") == nil { loggingOptions.logLevel = .error }
        let logger = loggingOptions.makeLogger(label: "saga-check")
        func database(_ flag: String?, _ service: String) throws -> PGConfig {
            let variable = "SAGA_CHECK_\(service.uppercased())_DATABASE_URL"
            guard let url = Environment.value(flag: flag, variable: variable) else {
                throw ValidationError("no \(service) database: pass --\(service)-database-url or set \(variable)")
            }
            return PGConfig(url, applicationName: "saga-check")
        }
        let databases = SagaChecker.Databases(
            inventory: try database(inventoryDatabaseURL, "inventory"), payment: try database(paymentDatabaseURL, "payment"),
            notification: try database(notificationDatabaseURL, "notification"), tracker: try database(trackerDatabaseURL, "tracker"))
        var options = SagaChecker.Options()
        options.requireTerminal = requireTerminal
        options.grace = .milliseconds(Int64(TimeArgument.parseAge(grace)! * 1000))
        options.pageSize = pageSize
        let checker = SagaChecker(databases: databases, kafka: try kafka.configuration(), topics: kafka.topics, options: options, logger: logger)
        let report: SagaChecker.Report
        do {
            report = try await checker.run()
        } catch {
            throw CommandFailure(CommandRunner.oneLine("\(error)"))
        }
        print(json ? try JSONOutput.string(report) : Self.text(report))
        if !report.clean { throw ExitCode(1) }
    }

    static func text(_ report: SagaChecker.Report) -> String {
        var lines = ["sagas: \(report.sagas) (\(report.terminal) terminal, \(report.inFlightCount) in flight)"
            + (report.purgedFromView > 0 ? "; \(report.purgedFromView) finished ones no longer in the tracker's view (retention)" : "")]
        if !report.inFlight.isEmpty {
            lines.append("in flight:")
            for saga in report.inFlight { lines.append("  \(saga.sagaID)  \(saga.state)  \(String(format: "%.1f", saga.ageSeconds)) s") }
            if report.inFlightCount > report.inFlight.count { lines.append("  ... and \(report.inFlightCount - report.inFlight.count) more") }
        }
        for invariant in report.invariants {
            let count = report.violations.filter { $0.invariant == invariant }.count
            lines.append("\(count == 0 ? "ok  " : "FAIL") \(invariant.rawValue): \(invariant.summary)")
        }
        for violation in report.violations {
            lines.append("violation \(violation.invariant.rawValue)\(violation.sagaID.map { " saga \($0)" } ?? ""): \(violation.message)")
            for row in violation.rows { lines.append("    \(row)") }
        }
        if report.violationCount > report.violations.count { lines.append("... and \(report.violationCount - report.violations.count) more violations") }
        lines.append(report.clean ? "no violations" : "\(report.violationCount) violation(s)")
        return lines.joined(separator: "\n")
    }
}
