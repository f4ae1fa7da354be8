import Foundation
import OrderSagaTestSupport
import Testing
import TestSupport

/// `infra/dev` itself, as a user runs it: a stack of its own (own folder, ports, PostgreSQL cluster and broker), the
/// demo, a restart of the whole stack, and the demo again. Heavy, so it runs with the disruptive suites, alone.
@Suite("infra/dev: demo and stack restart", .serialized,
       .enabled(if: TestEnvironment.hasStack && TestEnvironment.value("SAGAKIT_DISRUPTIVE") == "1"), .timeLimit(.minutes(8)))
struct StackDisruptiveTests {
    /// A stack of its own beside the shared one; `down` and its folder removed afterwards, whatever happens.
    struct Stack {
        let directory: URL
        let pgPort: Int
        let kafkaPort: Int

        var environment: [String: String] {
            ["SAGAKIT_STACK_DIR": directory.path, "SAGAKIT_PG_PORT": "\(pgPort)", "SAGAKIT_KAFKA_PORT": "\(kafkaPort)",
             "SAGAKIT_SKIP_BUILD": "1", "SAGAKIT_DEMO_TIMEOUT": "30"]
        }

        /// Runs `infra/dev <arguments>` and returns its exit status and output.
        func dev(_ arguments: [String], extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
            let child = try ChildProcess.start(URL(fileURLWithPath: TestEnvironment.devScript), arguments,
                                               environment: environment.merging(extra) { $1 }, label: "dev-\(arguments[0])")
            let exit = try await child.waitForExit(timeout: .seconds(240))
            return (exit.status, child.output)
        }

        /// The final state the demo printed for each of its orders (`saga ORD-2001: completed`).
        static func states(in output: String) -> [String: String] {
            var states: [String: String] = [:]
            for line in output.split(separator: "\n") where line.hasPrefix("saga ORD-") {
                let parts = line.dropFirst("saga ".count).split(separator: ":")
                if parts.count == 2 { states[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
            }
            return states
        }

        static func with(pgPort: Int, kafkaPort: Int, _ body: (Stack) async throws -> Void) async throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-stack-\(UUID().uuidString.prefix(8))")
            let stack = Stack(directory: directory, pgPort: pgPort, kafkaPort: kafkaPort)
            do {
                try await body(stack)
            } catch {
                _ = try? await stack.dev(["down"])
                try? FileManager.default.removeItem(at: directory)
                throw error
            }
            _ = try? await stack.dev(["down"])
            try? FileManager.default.removeItem(at: directory)
        }
    }

    static let expected = ["ORD-2001": "completed", "ORD-2002": "compensated", "ORD-2003": "compensated", "ORD-2004": "failed"]

    @Test("demo, down, up, demo: the second demo shows the four scenarios as before; rebuild then keeps them")
    func demoAfterRestart() async throws {
        try await Stack.with(pgPort: 55491, kafkaPort: 19191) { stack in
            let first = try await stack.dev(["demo"])
            try #require(first.status == 0, "first demo:\n\(first.output.suffix(3000))")
            #expect(Stack.states(in: first.output) == Self.expected)

            // PostgreSQL keeps its data; the broker comes back empty: `up` recovers before it returns.
            let down = try await stack.dev(["down"])
            try #require(down.status == 0, "\(down.output)")
            let up = try await stack.dev(["up"])
            try #require(up.status == 0, "up:\n\(up.output.suffix(3000))")
            #expect(up.output.contains("saga-tracker: republished 4 events"), "up republished the tracker's events:\n\(up.output.suffix(2000))")

            let second = try await stack.dev(["demo"])
            #expect(second.status == 0, "second demo:\n\(second.output.suffix(3000))")
            #expect(second.output.contains("already started"))
            #expect(Stack.states(in: second.output) == Self.expected)

            // The broker holds every event again, so a rebuild finds them all and keeps the four sagas as they were.
            _ = try await stack.dev(["stop-services"])
            let environment = try await stack.dev(["env"])
            let trackerURL = try #require(environment.output.split(separator: "\n").first { $0.hasPrefix("export TRACKER_DATABASE_URL=") })
                .dropFirst("export TRACKER_DATABASE_URL=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            let tracker = ["TRACKER_DATABASE_URL": trackerURL, "SAGAKIT_BOOTSTRAP_SERVERS": "127.0.0.1:\(stack.kafkaPort)", "SAGAKIT_TOPIC_PREFIX": ""]
            let rebuild = try ChildProcess.start(TestEnvironment.executable("saga-tracker"), ["rebuild"], environment: tracker)
            let rebuilt = try await rebuild.waitForExit(timeout: .seconds(120))
            #expect(rebuilt.status == 0 && rebuild.output.contains("rebuilt 4 sagas from 16 events"), "\(rebuild.output)")
            let list = try await ChildProcess.run(TestEnvironment.executable("saga-tracker"), ["list", "--json"], environment: tracker)
            let rows = try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]] ?? []
            let states = Dictionary(uniqueKeysWithValues: rows.map { ($0["saga_id"] as? String ?? "", $0["state"] as? String ?? "") })
            #expect(states == Self.expected, "the projection after the rebuild")
        }
    }

    @Test("demo exits 1 and names the scenarios that did not end as expected")
    func demoFailureIsReported() async throws {
        try await Stack.with(pgPort: 55492, kafkaPort: 19192) { stack in
            // A payment limit below every demo order's amount: every payment is declined, so ORD-2001 and ORD-2002
            // end compensated instead of completed and compensated-after-refund.
            let demo = try await stack.dev(["demo"], extra: ["PAYMENT_MAX_AMOUNT": "10.00"])
            #expect(demo.status == 1, "\(demo.output.suffix(3000))")
            #expect(demo.output.contains("demo: ORD-2001 is compensated, expected completed"), "\(demo.output.suffix(2000))")
            #expect(demo.output.contains("did not reach their expected final state"))
        }
    }
}
