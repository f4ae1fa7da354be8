import Foundation
import OrderSagaTestSupport
import Testing
import TestSupport

/// `/health/ready` when PostgreSQL really stops: on a stack of its own (its own PostgreSQL cluster and broker, on
/// free ports), since stopping the shared one would fail every other test. Runs with the disruptive suites.
@Suite("Observability: readiness when PostgreSQL stops (a stack of its own)", .serialized,
       .enabled(if: TestEnvironment.hasStack && TestEnvironment.value("SAGAKIT_DISRUPTIVE") == "1"), .timeLimit(.minutes(8)))
struct ObservabilityDisruptiveTests {
    /// `infra/dev env`'s export lines as a dictionary.
    static func exports(_ output: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            values[String(assignment[..<equals])] = assignment[assignment.index(after: equals)...].trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return values
    }

    @Test("ready (200) on a running stack; 503 naming the database once PostgreSQL stops, live all along; 200 again once it is back")
    func readinessFollowsPostgreSQL() async throws {
        try await StackDisruptiveTests.Stack.with(pgPort: try HTTPProbe.freePort(), kafkaPort: try HTTPProbe.freePort()) { stack in
            let setup = try await stack.dev(["setup"])
            try #require(setup.status == 0, "setup:\n\(setup.output.suffix(3000))")
            let up = try await stack.dev(["up"])
            try #require(up.status == 0, "up:\n\(up.output.suffix(3000))")
            let stackEnvironment = Self.exports(try await stack.dev(["env"]).output)
            try #require(stackEnvironment["PAYMENT_DATABASE_URL"] != nil && stackEnvironment["SAGAKIT_BOOTSTRAP_SERVERS"] != nil)

            let port = try HTTPProbe.freePort()
            var environment = stackEnvironment
            environment["SAGAKIT_TOPIC_PREFIX"] = ""
            environment["SAGAKIT_HTTP_ADDRESS"] = "127.0.0.1:\(port)"
            let payment = try ChildProcess.start(TestEnvironment.executable("payment-service"), ["run", "--relay-poll-ms", "200"],
                                                 environment: environment, label: "payment-own-stack")
            defer { payment.kill9() }
            _ = try await HTTPProbe.pollReadyUntilOK(port: port, process: payment)

            let stop = try await stack.dev(["pg-stop"])
            try #require(stop.status == 0, "pg-stop:\n\(stop.output)")
            let down = try await eventually("/health/ready to answer 503 naming the database", timeout: .seconds(30), every: .milliseconds(250)) {
                let answer = try await HTTPProbe.get(port: port, path: "/health/ready")
                return answer.status == 503 && answer.reasons.contains(where: { $0.hasPrefix("database: unreachable") }) ? answer : nil
            }
            #expect(down.body.contains("\"not_ready\""), "\(down)")
            #expect(!down.body.contains("password") && !down.body.contains("postgresql://"), "no connection string in the reason: \(down)")
            // Alive all the while: an orchestrator takes it out of traffic, it does not restart it.
            #expect(try await HTTPProbe.get(port: port, path: "/health/live").status == 200)
            #expect(payment.isRunning)

            let start = try await stack.dev(["pg-start"])
            try #require(start.status == 0, "pg-start:\n\(start.output)")
            let back = try await eventually("/health/ready to answer 200 again", timeout: .seconds(60), every: .milliseconds(250)) {
                let answer = try await HTTPProbe.get(port: port, path: "/health/ready")
                return answer.status == 200 ? answer : nil
            }
            #expect(back.reasons.isEmpty, "\(back)")
            #expect(payment.isRunning, "the service rode out the outage:\n\(payment.tail())")
        }
    }
}
