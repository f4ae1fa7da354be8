import Foundation
import OrderSaga
import OrderSagaTestSupport
import SagaKit
import Testing
import Tracker
import TestSupport

/// Restarts the shared broker: `infra/dev test` runs this with the other disruptive suite, alone, last.
@Suite("Order saga: broker data loss", .serialized,
       .enabled(if: TestEnvironment.hasStack && TestEnvironment.value("SAGAKIT_DISRUPTIVE") == "1"), .timeLimit(.minutes(6)))
struct SagaDisruptiveTests {
    @Test("broker wiped and restarted: rebuild refuses, outbox recover + rebuild restore every saga's status, and sagas in flight finish")
    func brokerWipe() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await MixedLoad.setStock(cluster)
            let finished = MixedLoad.orders(12, prefix: "WIPE-DONE")
            try await cluster.startSagas(finished)
            _ = try await cluster.waitForTerminal(finished.map(\.orderID))
            let before = try await cluster.listJSON()
            let rows = { (json: String) -> [String: NSDictionary] in
                let array = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]) ?? []
                return Dictionary(uniqueKeysWithValues: array.map { ($0["saga_id"] as! String, $0 as NSDictionary) })
            }

            // Sagas held at the confirmation step when the broker loses everything.
            try await cluster.stop(.notification)
            let inFlight = (0..<4).map { i in
                OrderRequest(orderID: "WIPE-FLIGHT-\(i)", sku: "widget-a", quantity: 1, amount: Money(cents: 2500), email: "f\(i)@example.com")
            }
            try await cluster.startSagas(inFlight)
            for order in inFlight {
                try await waitUntil("\(order.orderID) charged") { try await cluster.status(order.orderID)?.completedSteps.contains("charge_payment") == true }
            }

            // The runbook (docs/OPERATIONS.md, "The broker lost its data"): stop every service, bring the broker back
            // with its topics, `outbox recover` for every service, start the services.
            for service in SagaCluster.Service.allCases { try await cluster.stopOrKill(service) }
            try await ChildProcess.run(URL(fileURLWithPath: TestEnvironment.devScript), ["broker-restart"], timeout: .seconds(60))
            try await cluster.topics.recreate()
            #expect(try await KafkaOracle.readAll(cluster.topics(OrderSagaTopics.orders)).isEmpty, "the broker lost the events")

            // Rebuilding now would rebuild from nothing: it refuses and leaves the projection as it was.
            let refused = try await cluster.attempt(.tracker, ["rebuild"])
            #expect(refused.status == 1 && refused.output.contains("refusing to rebuild: the topics lack"), "\(refused.output)")
            let untouched = rows(try await cluster.listJSON())
            for order in finished { #expect(untouched[order.orderID] == rows(before)[order.orderID], "\(order.orderID) untouched by the refused rebuild") }

            for service in SagaCluster.Service.allCases {
                let output = try await cluster.command(service, ["outbox", "recover"])
                #expect(output.contains("republished") && output.contains("earliest offsets"), "\(output)")
            }
            for service in [SagaCluster.Service.inventory, .payment, .notification] { try await cluster.start(service, waitUntilReady: false) }
            for service in [SagaCluster.Service.inventory, .payment, .notification] {
                try await waitUntil("\(service)'s outbox republished", timeout: .seconds(60)) {
                    (try await cluster.attempt(service, ["outbox", "status", "--json"])).output.contains("\"pending\":0")
                }
            }
            let rebuilt = try await cluster.attempt(.tracker, ["rebuild"])
            #expect(rebuilt.status == 0 && rebuilt.output.contains("caught up"), "\(rebuilt.output)")
            try await cluster.start(.tracker, waitUntilReady: false)

            let all = finished + inFlight
            let states = try await cluster.waitForTerminal(all.map(\.orderID), timeout: .seconds(120))
            for order in inFlight { #expect(states[order.orderID] == "completed", "\(order.orderID) finished") }
            let after = try await cluster.listJSON()
            let beforeRows = rows(before)
            let afterRows = rows(after)
            for order in finished {
                #expect(afterRows[order.orderID] == beforeRows[order.orderID], "\(order.orderID): status as before")
            }
            let truth = try await SagaTruth.settled(cluster, orders: all)
            truth.checkInvariants(orders: all, initialStock: MixedLoad.initialStock, projected: states)
            let check = try await cluster.check(["--require-terminal"])
            #expect(check.clean, "\(check.output)")
        }
    }
}
