import Foundation
import Notification
import OrderSaga
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import Tracker
import TestSupport

@Suite("Order saga scenarios", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(4)))
struct SagaScenarioTests {
    /// `saga-tracker start`. Whether Payment declines the order or Notification fails its confirmation is up to
    /// their fault options, which `SagaCluster` sets as the local stack does: ORD-2003 and `*-decline-*` are
    /// declined, ORD-2002 and `*-failconfirm-*` fail their confirmation.
    static func start(_ cluster: SagaCluster, _ id: String, quantity: Int = 1) async throws -> String {
        try await cluster.command(.tracker, [
            "start", "--order-id", id, "--sku", "demo-widget", "--quantity", "\(quantity)", "--amount", "59.99",
            "--email", "buyer@example.com",
        ])
    }

    @Test("the four scenarios end in exactly the expected states, steps, compensations and errors")
    func fourScenarios() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "100"])
            let accepted = try await Self.start(cluster, "ORD-2001")
            #expect(accepted.contains("accepted: saga ORD-2001"))
            #expect(accepted.contains("saga-tracker status ORD-2001"), "says how to follow the saga")
            _ = try await Self.start(cluster, "ORD-2002")
            _ = try await Self.start(cluster, "ORD-2003")
            _ = try await Self.start(cluster, "ORD-2004", quantity: 101)
            _ = try await cluster.waitForTerminal(["ORD-2001", "ORD-2002", "ORD-2003", "ORD-2004"], timeout: .seconds(60))

            let normal = try #require(try await cluster.status("ORD-2001"))
            #expect(normal.state == "completed")
            #expect(normal.completedSteps == ["reserve_inventory", "charge_payment", "send_confirmation"])
            #expect(normal.compensations == [])
            #expect(normal.error == nil)

            let confirmation = try #require(try await cluster.status("ORD-2002"))
            #expect(confirmation.state == "compensated")
            #expect(confirmation.completedSteps == ["reserve_inventory", "charge_payment"])
            #expect(confirmation.compensations == ["refund_payment", "release_inventory"])
            #expect(confirmation.error == "Confirmation dispatch failed for order ORD-2002")

            let payment = try #require(try await cluster.status("ORD-2003"))
            #expect(payment.state == "compensated")
            #expect(payment.completedSteps == ["reserve_inventory"])
            #expect(payment.compensations == ["release_inventory"])
            #expect(payment.error == "card declined for order ORD-2003")

            let stock = try #require(try await cluster.status("ORD-2004"))
            #expect(stock.state == "failed")
            #expect(stock.completedSteps == [])
            #expect(stock.compensations == [])
            #expect(stock.error?.hasPrefix("not enough stock for demo-widget: requested 101") == true, "\(String(describing: stock.error))")

            // The JSON always carries the keys, even when empty or null.
            let raw = try await cluster.command(.tracker, ["status", "ORD-2001", "--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
            for key in ["saga_id", "state", "completed_steps", "compensations", "error", "timeline"] {
                #expect(object.keys.contains(key), "status --json has \(key)")
            }

            // The services' own records agree.
            let truth = try await SagaTruth.settled(cluster, ids: ["ORD-2001", "ORD-2002", "ORD-2003", "ORD-2004"])
            #expect(truth.reservations == ["ORD-2001": "fulfilled", "ORD-2002": "released", "ORD-2003": "released"])
            #expect(truth.rejections == ["ORD-2004"], "a rejected order holds nothing")
            #expect(truth.stock["demo-widget"] == SagaTruth.Stock(available: 99, reserved: 0, fulfilled: 1), "stock untouched by the rejection")
            #expect(truth.charges["ORD-2001"]?.status == "captured" && truth.charges["ORD-2002"]?.status == "refunded")
            #expect(truth.charges["ORD-2003"] == nil && truth.declines == ["ORD-2003"])
            #expect(truth.confirmations == ["ORD-2001": "sent", "ORD-2002": "failed"])
            // saga-check, through the read-only role, finds every invariant holding.
            let check = try await cluster.check(["--require-terminal"])
            #expect(check.clean && check.report["sagas"] as? Int == 4, "\(check.output)")
            #expect(truth.emlFiles == ["ORD-2001.eml"])
            let eml = try String(contentsOf: cluster.spool.appendingPathComponent("ORD-2001.eml"), encoding: .utf8)
            #expect(eml.contains("To: <buyer@example.com>") && eml.contains("Total: 59.99 USD"))

            // Refund before release: committed first, and the release names the refund as its cause.
            let payments = try await cluster.connect(.payment)
            let refundedAt: Date = try await payments.query("SELECT refunded_at FROM refunds WHERE order_id = 'ORD-2002'")[0].decode("refunded_at")
            await payments.close()
            let inventory = try await cluster.connect(.inventory)
            let releasedAt: Date = try await inventory.query("SELECT released_at FROM reservations WHERE order_id = 'ORD-2002'")[0].decode("released_at")
            await inventory.close()
            #expect(refundedAt < releasedAt, "the refund committed before the release")
            let tracker = try await cluster.connect(.tracker)
            let chain = try await tracker.query("""
                SELECT r.causation_id = p.event_id AS caused FROM saga_events r, saga_events p
                WHERE r.saga_id = 'ORD-2002' AND p.saga_id = 'ORD-2002' AND r.event_type = 'InventoryReleased' AND p.event_type = 'PaymentRefunded'
                """)
            #expect(try chain.first?.decode("caused", as: Bool.self) == true, "InventoryReleased was caused by PaymentRefunded")
            await tracker.close()

            // Every event on every topic is valid against the JSON Schemas.
            var lines: [String] = []
            for topic in OrderSagaTopics.all {
                lines += try await KafkaOracle.readAll(cluster.topics(topic)).compactMap(\.payload)
            }
            #expect(Set(lines.compactMap { try? EventEnvelope.decode(Array($0.utf8)).eventType }) ==
                    ["OrderPlaced", "InventoryReserved", "InventoryRejected", "InventoryReleased", "PaymentCaptured", "PaymentDeclined",
                     "PaymentRefunded", "ConfirmationSent", "ConfirmationFailed"])
            try await SchemaValidator.expectValid(lines)

            // The customer's address is in no log line.
            for process in cluster.allProcesses {
                #expect(!process.output.contains("buyer@example.com"), "\(process.label) logged the customer's email")
            }
        }
    }

    @Test("starting the same order id twice starts one saga: one reservation, one charge, one confirmation")
    func startTwice() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            let first = try await Self.start(cluster, "ORD-TWICE")
            let second = try await Self.start(cluster, "ORD-TWICE")
            #expect(first.contains("accepted"))
            #expect(second.contains("already started: saga ORD-TWICE"), "says so: \(second)")
            _ = try await cluster.waitForTerminal(["ORD-TWICE"], timeout: .seconds(60))
            // A third start after completion changes nothing either.
            #expect(try await Self.start(cluster, "ORD-TWICE").contains("already started"))
            let truth = try await SagaTruth.settled(cluster, ids: ["ORD-TWICE"])
            #expect(truth.reservations == ["ORD-TWICE": "fulfilled"])
            #expect(truth.charges.count == 1 && truth.refunds.isEmpty)
            #expect(truth.confirmations == ["ORD-TWICE": "sent"])
            #expect(truth.emlFiles == ["ORD-TWICE.eml"])
            #expect(truth.stock["demo-widget"] == SagaTruth.Stock(available: 9, reserved: 0, fulfilled: 1))
            let placed = try await KafkaOracle.readAll(cluster.topics(OrderSagaTopics.orders))
            #expect(placed.count == 1, "one OrderPlaced")
            // Different details under a started id are refused.
            await #expect(throws: (any Error).self) {
                try await cluster.command(.tracker, [
                    "start", "--order-id", "ORD-TWICE", "--sku", "demo-widget", "--quantity", "2", "--amount", "59.99", "--email", "buyer@example.com",
                ])
            }
        }
    }

    @Test("v1 → v2: version 1 OrderPlaced events already on the topic are processed, their switches ignored, the fault options applied")
    func version1OrderPlacedProcessed() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            // As a release before version 2 wrote them: one asking for both failures (now ignored), one asking for
            // none whose id Payment's fault option matches.
            let orders = [("ORD-V1-1", true, true), ("ORD-V1-decline-2", false, false)]
            for (id, failPayment, failConfirmation) in orders {
                let old = OrderPlacedV1(orderID: id, sku: "demo-widget", quantity: 1, amountCents: 5999, currency: "USD",
                                        customerEmail: "buyer@example.com", failPayment: failPayment, failConfirmation: failConfirmation)
                let envelope = try EventEnvelope(old, sagaID: id, causationID: nil, producer: "tracker")
                #expect(envelope.schemaVersion == 1)
                try await KafkaOracle.produce(cluster.topics(OrderSagaTopics.orders), key: id, value: String(decoding: envelope.encoded(), as: UTF8.self))
            }
            let states = try await cluster.waitForTerminal(orders.map(\.0), timeout: .seconds(60))
            #expect(states == ["ORD-V1-1": "completed", "ORD-V1-decline-2": "compensated"])
            let declined = try #require(try await cluster.status("ORD-V1-decline-2"))
            #expect(declined.error == "card declined for order ORD-V1-decline-2")
            #expect(try cluster.emlFiles() == ["ORD-V1-1.eml"])
            let deadLetters = try await KafkaOracle.readAll(cluster.topics(OrderSagaTopics.orders) + DeadLetters.suffix)
            #expect(deadLetters.isEmpty, "no consumer refused a version 1 event")
        }
    }

    @Test("every event re-published with its event_id changes nothing anywhere")
    func republishedEventsHaveNoSecondEffect() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "100"])
            let ids = ["ORD-R1", "ORD-R-failconfirm-2", "ORD-R-decline-3", "ORD-R4"]
            _ = try await Self.start(cluster, ids[0])
            _ = try await Self.start(cluster, ids[1])
            _ = try await Self.start(cluster, ids[2])
            _ = try await Self.start(cluster, ids[3], quantity: 500)
            let states = try await cluster.waitForTerminal(ids, timeout: .seconds(60))
            let before = try await SagaTruth.settled(cluster, ids: ids)
            var eventCounts: [String: Int] = [:]
            for topic in OrderSagaTopics.all { eventCounts[topic] = try await KafkaOracle.readAll(cluster.topics(topic)).count }

            // Every service's outbox sends everything again, with the same event ids: every event type.
            for service in SagaCluster.Service.allCases {
                let output = try await cluster.command(service, ["outbox", "republish", "--since", "1h"])
                #expect(output.contains("marked"))
            }
            // Wait until each topic holds every event twice, and every consumer has acknowledged the copies.
            for topic in OrderSagaTopics.all {
                _ = try await KafkaOracle.waitForMessages(cluster.topics(topic), count: 2 * eventCounts[topic]!)
            }
            let duplicatesExpected: [SagaCluster.Service: Int] = [
                // inventory: OrderPlaced ×4, PaymentDeclined, PaymentRefunded, ConfirmationSent
                .inventory: 7,
                // payment: InventoryReserved ×3, ConfirmationFailed
                .payment: 4,
                // notification: OrderPlaced ×4, PaymentCaptured ×2
                .notification: 6,
                // tracker: every event of the four sagas
                .tracker: eventCounts.values.reduce(0, +),
            ]
            for (service, expected) in duplicatesExpected {
                try await waitUntil("\(service) to acknowledge \(expected) duplicates", timeout: .seconds(60)) {
                    cluster.process(service).occurrences(of: "outcome=duplicate") >= expected
                }
            }
            let after = try await SagaTruth.read(cluster)
            #expect(after.reservations == before.reservations && after.stock == before.stock)
            #expect(after.charges.mapValues(\.status) == before.charges.mapValues(\.status) && after.refunds == before.refunds)
            #expect(after.confirmations == before.confirmations && after.emlFiles == before.emlFiles)
            #expect(try await cluster.projectedStates() == states, "projection unchanged")
            for service in SagaCluster.Service.allCases {
                #expect(cluster.process(service).occurrences(of: "outcome=duplicate") == duplicatesExpected[service]!, "\(service)")
            }
        }
    }
}
