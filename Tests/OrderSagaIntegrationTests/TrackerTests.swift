import Foundation
import OrderSaga
import OrderSagaFixtures
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import Tracker
import TestSupport

@Suite("Tracker inspection, rebuild and replay", .serialized, .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(5)))
struct TrackerTests {
    @Test("status, list, stuck and stats: exit codes, filters, JSON; real event sets give the same projection in any order")
    func inspection() async throws {
        try await SagaCluster.with { cluster in
            // The participants' fault options, by order id, for this test's own ids.
            try await cluster.startAll(environment: ["NOTIFICATION_FAIL_CONFIRMATIONS": "ORD-B", "PAYMENT_DECLINE_ORDERS": "ORD-C"])
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "100"])
            _ = try await SagaScenarioTests.start(cluster, "ORD-A")
            _ = try await SagaScenarioTests.start(cluster, "ORD-B")
            _ = try await SagaScenarioTests.start(cluster, "ORD-C")
            _ = try await SagaScenarioTests.start(cluster, "ORD-D", quantity: 1000)
            _ = try await cluster.waitForTerminal(["ORD-A", "ORD-B", "ORD-C", "ORD-D"], timeout: .seconds(60))

            let unknown = try await cluster.attempt(.tracker, ["status", "NO-SUCH-SAGA"])
            #expect(unknown.status == 1)
            #expect(unknown.output.trimmingCharacters(in: .whitespacesAndNewlines) == "saga-tracker: saga NO-SUCH-SAGA not found: the tracker has seen none of its events")
            for bad in [["status"], ["status", "ORD-A", "--bogus"], ["list", "--limit", "0"], ["list", "--state", "sleeping"], ["stuck", "--older-than", "soon"], ["stuck", "--limit", "0"],
                        ["run", "--projection-retention-hours", "0"], ["run", "--projection-retention-hours", "forever"]] {
                let result = try await cluster.attempt(.tracker, bad)
                #expect(result.status == 2, "\(bad) exits 2")
                #expect(result.output.split(separator: "\n").count == 1, "one line: \(result.output)")
            }
            let human = try await cluster.command(.tracker, ["status", "ORD-B"])
            for fragment in ["saga ORD-B: compensated", "refund_payment", "release_inventory", "Confirmation dispatch failed for order ORD-B", "timeline", "notification"] {
                #expect(human.contains(fragment), "status shows \(fragment)")
            }
            let compensated = try await cluster.command(.tracker, ["list", "--state", "compensated", "--json"])
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(compensated.utf8)) as? [[String: Any]])
            #expect(Set(rows.compactMap { $0["saga_id"] as? String }) == ["ORD-B", "ORD-C"])
            #expect(try await cluster.attempt(.tracker, ["list", "--state", "running"]).status == 1)
            #expect(try await cluster.attempt(.tracker, ["stuck", "--older-than", "1s"]).status == 1, "nothing stuck")
            let stats = try #require(try JSONSerialization.jsonObject(with: Data(try await cluster.command(.tracker, ["stats", "--json"]).utf8)) as? [String: Any])
            #expect((stats["by_state"] as? [String: Int]) == ["running": 0, "completed": 1, "compensating": 0, "compensated": 2, "failed": 1, "compensation_failed": 0])
            let durations = try #require(stats["time_to_terminal"] as? [String: Any])
            #expect(durations["count"] as? Int == 4 && (durations["p50_ms"] as? Double ?? 0) > 0)

            // The real events of each saga, in every order and duplicated: the same projection.
            let db = try await cluster.connect(.tracker)
            for saga in ["ORD-A", "ORD-B", "ORD-C", "ORD-D"] {
                let events = try await db.withTransaction { tx in try ProjectionStore.events(sagaID: saga, on: tx) }
                let stored = try #require(try await ProjectionStore.status(sagaID: saga, on: db))
                for permutation in ProjectionSamples.permutations(events) {
                    #expect(SagaProjection.derive(sagaID: saga, events: permutation + permutation.prefix(2)) == stored)
                }
            }
            await db.close()
        }
    }

    @Test("a saga held at a step is listed by stuck; when its service returns it completes and leaves the list")
    func stuckSaga() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            try await cluster.stop(.payment)
            _ = try await SagaScenarioTests.start(cluster, "ORD-HELD")
            try await waitUntil("stock reserved") { try await cluster.status("ORD-HELD")?.completedSteps == ["reserve_inventory"] }
            _ = try await SagaScenarioTests.start(cluster, "ORD-HELD-LATER")
            try await waitUntil("stock reserved again") { try await cluster.status("ORD-HELD-LATER")?.completedSteps == ["reserve_inventory"] }
            let stuck = try await eventually("both sagas listed as stuck") { () -> String? in
                let result = try await cluster.attempt(.tracker, ["stuck", "--older-than", "2s", "--json"])
                let rows = (try? JSONSerialization.jsonObject(with: Data(result.output.utf8))) as? [[String: Any]]
                return result.status == 0 && rows?.count == 2 ? result.output : nil
            }
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(stuck.utf8)) as? [[String: Any]])
            #expect(rows.map { $0["saga_id"] as? String } == ["ORD-HELD", "ORD-HELD-LATER"], "longest silent first")
            #expect(rows[0]["current_step"] as? String == "charge_payment" && rows[0]["waiting_for"] as? String == "payment")
            // --limit keeps the longest silent.
            let one = try await cluster.attempt(.tracker, ["stuck", "--older-than", "2s", "--limit", "1", "--json"])
            let limited = try #require(try JSONSerialization.jsonObject(with: Data(one.output.utf8)) as? [[String: Any]])
            #expect(limited.map { $0["saga_id"] as? String } == ["ORD-HELD"], "\(one.output)")
            // A per-step deadline longer than the wait hides it.
            #expect(try await cluster.attempt(.tracker, ["stuck", "--older-than", "2s", "--deadline", "charge_payment=1h"]).status == 1)

            try await cluster.start(.payment)
            _ = try await cluster.waitForTerminal(["ORD-HELD", "ORD-HELD-LATER"], timeout: .seconds(60))
            #expect(try await cluster.status("ORD-HELD")?.state == "completed")
            let after = try await cluster.attempt(.tracker, ["stuck", "--older-than", "2s"])
            #expect(after.status == 1 && after.output.contains("no stuck sagas"))
        }
    }

    @Test("rebuild reproduces the projection exactly, with progress, and refuses while the tracker runs")
    func rebuild() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await MixedLoad.setStock(cluster)
            let orders = MixedLoad.orders(60, prefix: "REB")
            try await cluster.startSagas(orders)
            _ = try await cluster.waitForTerminal(orders.map(\.orderID))
            let before = try await cluster.listJSON()

            let refused = try await cluster.attempt(.tracker, ["rebuild"])
            #expect(refused.status == 1 && refused.output.contains("stop `saga-tracker run` first"))

            try await cluster.stop(.tracker)
            let rebuilt = try await cluster.attempt(.tracker, ["rebuild"])
            #expect(rebuilt.status == 0, "\(rebuilt.output)")
            #expect(rebuilt.output.contains("rebuilt 60 sagas") && rebuilt.output.contains("caught up"))
            #expect(rebuilt.output.contains("rebuild: ") && rebuilt.output.contains("events ("), "progress: done/total and rate")
            let after = try await cluster.listJSON()
            #expect(after == before, "the rebuilt projection equals the one before")
            #expect(!after.isEmpty && after != "[]")

            // Running again picks up where the rebuild left off: nothing is redelivered. A new saga, seen to its end,
            // shows the tracker has consumed (a fetch from the rebuild's offsets would have handled the 60 again).
            let tracker = try await cluster.start(.tracker)
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "5"])
            _ = try await SagaScenarioTests.start(cluster, "REB-AFTER")
            #expect(try await cluster.waitForTerminal(["REB-AFTER"], timeout: .seconds(60))["REB-AFTER"] == "completed")
            // The log line follows the commit the status query saw.
            try await waitUntil("the tracker's log of the new saga's four events", timeout: .seconds(10)) { tracker.occurrences(of: "event handled") >= 4 }
            #expect(tracker.occurrences(of: "outcome=duplicate") == 0, "\(tracker.tail())")
            #expect(tracker.occurrences(of: "event handled") == 4, "only the new saga's four events: \(tracker.tail())")
        }
    }

    @Test("replaying every topic from the earliest offset into every service changes no stock, payment, email or projection row")
    func replayEverything() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await MixedLoad.setStock(cluster)
            let orders = MixedLoad.orders(40, prefix: "REP")
            try await cluster.startSagas(orders)
            _ = try await cluster.waitForTerminal(orders.map(\.orderID))
            let truthBefore = try await SagaTruth.settled(cluster, orders: orders)
            let listBefore = try await cluster.listJSON()

            let whileRunning = try await cluster.attempt(.inventory, ["replay", "--topic", "orders", "--from", "earliest"])
            #expect(whileRunning.status == 1 && whileRunning.output.contains("stop `inventory-service run` first"), "\(whileRunning.output)")

            let consumed: [SagaCluster.Service: [String]] = [
                .inventory: ["orders", "payment", "notification"], .payment: ["inventory", "notification"],
                .notification: ["orders", "payment"], .tracker: OrderSagaTopics.all,
            ]
            var redelivered: [SagaCluster.Service: Int] = [:]
            for service in SagaCluster.Service.allCases { try await cluster.stop(service) }
            for (service, topics) in consumed {
                for topic in topics {
                    let dry = try await cluster.command(service, ["replay", "--topic", topic, "--from", "earliest", "--dry-run", "--json"])
                    let report = try #require(try JSONSerialization.jsonObject(with: Data(dry.split(separator: "\n").first { $0.hasPrefix("{") }!.utf8)) as? [String: Any])
                    let plan = try #require(report["plan"] as? [String: Any])
                    #expect(plan["would_apply"] as? Int == 0, "\(service) \(topic): everything redelivered was applied before")
                    #expect((plan["already_applied"] as? Int ?? 0) > 0 || (plan["not_handled"] as? Int ?? 0) > 0)
                    #expect(report["applied"] as? Bool == false, "a dry run changes nothing")
                    let real = try await cluster.command(service, ["replay", "--topic", topic, "--from", "earliest"])
                    #expect(real.contains("done: group"))
                    redelivered[service, default: 0] += plan["already_applied"] as? Int ?? 0
                }
            }
            for service in SagaCluster.Service.allCases { try await cluster.start(service, waitUntilReady: false) }
            for (service, count) in redelivered {
                try await waitUntil("\(service) to acknowledge \(count) redelivered events", timeout: .seconds(90)) {
                    cluster.process(service).occurrences(of: "outcome=duplicate") >= count
                }
            }
            let truthAfter = try await SagaTruth.read(cluster)
            #expect(truthAfter.stock == truthBefore.stock)
            #expect(truthAfter.charges.mapValues(\.status) == truthBefore.charges.mapValues(\.status) && truthAfter.refunds == truthBefore.refunds)
            #expect(truthAfter.emlFiles == truthBefore.emlFiles && truthAfter.confirmations == truthBefore.confirmations)
            #expect(try await cluster.listJSON() == listBefore, "no projection row changed")
        }
    }

    @Test("a replay reaching past the inbox's retention is refused unless forced")
    func replayHorizon() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            _ = try await SagaScenarioTests.start(cluster, "ORD-H")
            _ = try await cluster.waitForTerminal(["ORD-H"], timeout: .seconds(60))
            try await cluster.stop(.payment)
            // As if retention had deleted inbox entries up to now.
            let db = try await cluster.connect(.payment)
            try await db.query("INSERT INTO sagakit_retention (name, purged_before) VALUES ('inbox', now())")
            await db.close()
            let refused = try await cluster.attempt(.payment, ["replay", "--topic", "inventory", "--from", "earliest"])
            #expect(refused.status == 1)
            #expect(refused.output.contains("older than the inbox remembers") && refused.output.contains("--force"))
            let forced = try await cluster.attempt(.payment, ["replay", "--topic", "inventory", "--from", "earliest", "--force"])
            #expect(forced.status == 0 && forced.output.contains("done: group"))
            let later = try await cluster.attempt(.payment, ["replay", "--topic", "inventory", "--from", RFC3339.format(Date().addingTimeInterval(60))])
            #expect(later.status == 0, "a replay starting after the horizon needs no force: \(later.output)")
        }
    }
}
