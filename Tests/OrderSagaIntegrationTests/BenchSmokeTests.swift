import Foundation
import OrderSagaTestSupport
import PGClient
import Testing
import TestSupport

/// `saga-bench` at smoke size against the four real services: keeps the tool working, judges no speed.
@Suite("saga-bench smoke run", .serialized, .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(3)))
struct BenchSmokeTests {
    @Test("a rate or interval that would overflow or spin is a usage error: one line, exit 2", arguments: [
        ["--rate", "inf"], ["--rate", "1e300"], ["--rate", "nan"], ["--concurrency", "0"], ["--rate", "10", "--rss-interval", "0"],
        ["--rate", "10", "--rss-interval", "-5"],
    ])
    func badArguments(_ arguments: [String]) async throws {
        let run = try ChildProcess.start(TestEnvironment.executable("saga-bench"), arguments, environment: [:], label: "saga-bench-bad")
        let exit = try await run.waitForExit(timeout: .seconds(30))
        #expect(exit.status == 2 && !exit.signaled, "\(arguments): \(run.output)")
        #expect(run.output.split(separator: "\n").count == 1, "\(arguments): \(run.output)")
    }

    @Test("a few seconds of load: every started saga completes and the JSON report carries its figures")
    func smokeRun() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            // Another stack's tracker on the same machine, as when suites run side by side: a process whose command
            // line reads `saga-tracker ... run`, with a topic prefix of its own. The bench must not count it.
            let otherStack = try ChildProcess.start(
                URL(fileURLWithPath: "/bin/bash"),
                ["-c", "echo up; exec -a saga-tracker tail -f /dev/null run"],
                environment: ["SAGAKIT_TOPIC_PREFIX": "another-stack-"], label: "other-stack-tracker")
            defer { otherStack.kill9() }
            try await otherStack.waitForOutput("up")
            let report = try await Self.bench(cluster, [
                "--rate", "20", "--duration", "3s", "--warmup", "1s", "--idle", "2s", "--connections", "2", "--rss-interval", "1",
                "--with-pgbench", "--pgbench-seconds", "2"])
            let started = try #require(report["started_in_window"] as? Int)
            // About 60 at 20 sagas/s for 3 s, fewer on a loaded machine: the smoke run judges no speed, only that load ran.
            #expect(started >= 1, "no saga started in the window")
            // Whether they complete inside the 3 s window depends on the machine's load, which a smoke run does not
            // judge: that every one of them completed is checked below.
            #expect(report["completed_in_window"] is Int)
            #expect(report["unfinished"] as? Int == 0, "every started saga finishes within the settle time")
            let failures = try #require(report["intake_failures"] as? [String])
            #expect(failures.isEmpty, "the intake failed: \(failures)")
            // The window's starts went through the intake's transactions. Its counts are taken when starts return,
            // the window's from the orders' commit times: on a busy machine they differ by what is in flight.
            let intake = try #require(report["intake"] as? [String: Any])
            let transactions = try #require(intake["transactions"] as? Int)
            let intakeStarts = try #require(intake["starts"] as? Int)
            #expect(transactions >= 1 && intakeStarts >= 1, "intake: \(intake), started \(started)")
            let configuration = try #require(report["configuration"] as? [String: Any])
            let settings = try #require(configuration["environment"] as? [String: String])
            #expect(settings["SAGAKIT_TOPIC_PREFIX"] == cluster.topics.prefix, "the report records the stack's settings")
            let states = try #require(report["states_of_started"] as? [String: Int])
            // Every saga the run started (the warm-up's too) completed: the default mix is all happy path.
            #expect(states.keys.sorted() == ["completed"] && (states["completed"] ?? 0) >= started, "states of the run's sagas: \(states)")
            let latency = try #require(report["latency"] as? [String: Any])
            #expect((latency["count"] as? Int ?? 0) > 0 && (latency["p50_ms"] as? Double ?? 0) > 0)
            // Every forward hop of the happy path is measured: intake → inventory → payment → notification.
            let hops = try #require(report["hops"] as? [[String: Any]])
            let hopTypes = Set(hops.compactMap { $0["event_type"] as? String })
            #expect(hopTypes.isSuperset(of: ["OrderPlaced", "InventoryReserved", "PaymentCaptured", "ConfirmationSent"]), "hops: \(hopTypes)")
            // Each hop split by stage from the messages' own stamps: every stage measured, each p50 within its hop's total.
            for hop in hops where ["OrderPlaced", "InventoryReserved", "PaymentCaptured", "ConfirmationSent"].contains(hop["event_type"] as? String ?? "") {
                let stages = try #require(hop["stages"] as? [String: [String: Any]], "\(hop)")
                let toConsumer = try #require((hop["commit_to_consumer"] as? [String: Any])?["max_ms"] as? Double)
                let toAck = try #require((hop["commit_to_ack"] as? [String: Any])?["max_ms"] as? Double)
                // The chain to the consumer lies within commit → consumer; pick-up → ack within commit → ack.
                for (name, bound) in [("commit_to_pickup", toConsumer), ("pickup_to_poll", toConsumer), ("poll_to_claim", toConsumer), ("pickup_to_ack", toAck)] {
                    let stage = try #require(stages[name], "\(name) in \(hop)")
                    #expect((stage["count"] as? Int ?? 0) > 0, "\(name) of \(hop["event_type"] ?? "?") counts its events")
                    let p50 = try #require(stage["p50_ms"] as? Double)
                    #expect(p50 <= bound + 1, "\(name) p50 \(p50) ms within the longest of its whole, \(bound) ms")
                }
            }
            let processes = try #require(report["processes"] as? [[String: Any]])
            let names = Set(processes.compactMap { $0["name"] as? String })
            #expect(names.isSuperset(of: ["inventory-service", "payment-service", "notification-service", "saga-tracker"]), "processes: \(names)")
            // One process each: this stack's, not the other stack's tracker.
            let counts = Dictionary(processes.compactMap { p in (p["name"] as? String).map { ($0, p["count"] as? Int ?? 0) } }, uniquingKeysWith: +)
            #expect(["inventory-service", "payment-service", "notification-service", "saga-tracker"].allSatisfy { counts[$0] == 1 }, "processes measured: \(counts)")
            // pgbench ran and ended on time (its -T needs SIGALRM, which threads of the Swift runtime block).
            let pgbench = try #require(report["pgbench"] as? [String: Any])
            #expect((pgbench["tps"] as? Double ?? 0) > 0 && (report["ratio_to_pgbench_tps"] as? Double).map { $0 >= 0 } == true)
            let pgbenchSteal = try #require(pgbench["steal_fraction"] as? Double, "the steal while pgbench ran is recorded")
            #expect((0...1).contains(pgbenchSteal))
            #expect(processes.allSatisfy { ($0["peak_rss_mib"] as? Double ?? 0) > 0 && ($0["pss_last_mib"] as? Double ?? 0) > 0 },
                    "every process has its memory measured: \(processes)")
            // The machine's CPU over the window: some of it busy (the services at least), never more than it has.
            let machine = try #require(report["machine_cpu"] as? [String: Any])
            let cpus = try #require(machine["cpus"] as? Int)
            let busy = try #require(machine["busy_cores"] as? Double)
            let fraction = try #require(machine["busy_fraction"] as? Double)
            #expect(busy > 0 && busy <= Double(cpus) * 1.05, "busy cores \(busy) of \(cpus)")
            #expect(fraction > 0 && fraction <= 1, "busy fraction \(fraction)")
            #expect((machine["outside_listed_processes_cores"] as? Double).map { $0 >= 0 } == true)
            // The idle stack, measured before the load: every service's cores, their sum, none for the load generator.
            let idle = try #require(report["idle"] as? [String: Any], "--idle measures the stack before the load")
            let idleCores = try #require(idle["cores_by_process"] as? [String: Double])
            #expect(Set(idleCores.keys).isSuperset(of: ["inventory-service", "payment-service", "notification-service", "saga-tracker"]), "idle: \(idleCores)")
            #expect(idleCores["saga-bench (load generator)"] == nil)
            let idleTotal = try #require(idle["stack_cores"] as? Double)
            #expect(abs(idleTotal - idleCores.values.reduce(0, +)) < 0.01 && idleTotal > 0 && idleTotal <= Double(cpus) * 1.05, "idle stack \(idleTotal) cores")
            #expect((idle["seconds"] as? Double ?? 0) >= 2)
            // Latency by the minute of the window: a 3 s window is minute 0, holding every terminal saga of the window.
            let minutes = try #require(report["latency_by_minute"] as? [[String: Any]])
            let allTerminal = try #require((report["latency_all_terminal"] as? [String: Any])?["count"] as? Int)
            #expect(minutes.map { $0["minute"] as? Int } == [0], "minutes: \(minutes)")
            #expect(minutes.first.flatMap { ($0["latency"] as? [String: Any])?["count"] as? Int } == allTerminal)
            // Each memory sample also carries the CPU used so far, never less than the sample before.
            let samples = try #require(report["rss_samples"] as? [[String: Any]])
            let trackerCPU = samples.compactMap { ($0["cpu_seconds"] as? [String: Double])?["saga-tracker"] }
            #expect(trackerCPU.count == samples.count && trackerCPU.count >= 2 && zip(trackerCPU, trackerCPU.dropFirst()).allSatisfy { $0 <= $1 }, "cpu samples: \(trackerCPU)")
        }
    }

    @Test("closed loop with every scenario over three products: each customer waits for its saga, all three end states appear, every product is ordered")
    func closedLoopMixedScenarios() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            let report = try await Self.bench(cluster, ["--concurrency", "4", "--mix", "all", "--skus", "3", "--duration", "3s", "--warmup", "1s"])
            let configuration = try #require(report["configuration"] as? [String: Any])
            #expect(configuration["mode"] as? String == "closed" && configuration["concurrency"] as? Int == 4)
            #expect(configuration["skus"] as? Int == 3)
            let inventory = try await cluster.connect(.inventory)
            let reserved = try await inventory.query("SELECT DISTINCT sku FROM reservations ORDER BY sku").map { try $0.decode("sku", as: String.self) }
            await inventory.close()
            #expect(reserved == ["bench-widget-1", "bench-widget-2", "bench-widget-3"], "orders spread over the products: \(reserved)")
            let states = try #require(report["states_of_started"] as? [String: Int])
            // A quarter each: happy (completed), failed confirmation and declined payment (compensated), stock (failed).
            #expect(Set(states.keys) == ["completed", "compensated", "failed"], "states: \(states)")
            #expect(report["unfinished"] as? Int == 0)
        }
    }

    /// Runs saga-bench against the cluster's services and returns its JSON report.
    static func bench(_ cluster: SagaCluster, _ arguments: [String]) async throws -> [String: Any] {
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("saga-bench-\(UUID().uuidString.prefix(8)).json")
        defer { try? FileManager.default.removeItem(at: json) }
        // The bench reads all four databases; the services' own environment names one each.
        var environment = cluster.environment(for: .tracker)
        for service in SagaCluster.Service.allCases { environment[service.urlVariable] = cluster.databases[service]!.url }
        let bench = try ChildProcess.start(
            TestEnvironment.executable("saga-bench"), arguments + ["--settle", "60s", "--json-out", json.path],
            environment: environment, label: "saga-bench")
        let exit = try await bench.waitForExit(timeout: .seconds(150))
        #expect(exit.status == 0, "saga-bench failed:\n\(bench.tail(30))")
        #expect(bench.output.contains("completed sagas/s"), "no human table:\n\(bench.tail(30))")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
    }
}
