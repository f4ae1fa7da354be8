import Foundation
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import TestSupport

/// A failed compensation is parked, not lost: Payment's refund fault parks the refunds of a failing-confirmation
/// saga; `payment-service compensations retry` (fault off) and `skip --reason` settle them, on the real stack.
@Suite("Parked compensations", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(5)))
struct CompensationTests {
    /// Notification fails these ids' confirmations (`*-failconfirm-*`) and Payment rejects their refunds.
    static let retried = "C-failconfirm-refundfail-1"
    static let skipped = "C-failconfirm-refundfail-2"

    /// `payment-service compensations ...` as the cluster's Payment would run it, fault options included.
    static func compensations(_ cluster: SagaCluster, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await cluster.attempt(.payment, ["compensations"] + arguments)
    }

    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n") }

    @Test("with the refund fault on the saga ends compensation_failed and parked; retry (fault off) and skip make it compensated")
    func refundParkedRetriedAndSkipped() async throws {
        try await SagaCluster.with { cluster in
            for service in SagaCluster.Service.allCases {
                try await cluster.start(service, environment: service == .payment ? ["PAYMENT_FAIL_REFUNDS": "*-refundfail-*"] : [:], waitUntilReady: false)
            }
            for service in SagaCluster.Service.allCases { try await cluster.process(service).waitForOutput("partitions assigned", timeout: .seconds(60)) }
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            for id in [Self.retried, Self.skipped] {
                try await cluster.command(.tracker, [
                    "start", "--order-id", id, "--sku", "demo-widget", "--quantity", "2", "--amount", "59.99", "--email", "buyer@example.com",
                ])
            }
            let states = try await cluster.waitForTerminal([Self.retried, Self.skipped], timeout: .seconds(90))
            #expect(states[Self.retried] == "compensation_failed" && states[Self.skipped] == "compensation_failed")
            let failed = try #require(try await cluster.status(Self.retried))
            #expect(failed.error == "Confirmation dispatch failed for order \(Self.retried); then refund rejected by the payment provider for order \(Self.retried)")
            #expect(cluster.process(.payment).output.contains("fault option: rejecting the refunds of the orders that match *-refundfail-*"))

            // Parked, in Payment's database, with the triggering event's reason; nothing refunded or released yet.
            let listed = try await Self.compensations(cluster, ["list", "--json"])
            #expect(listed.status == 0, "\(listed.output)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(Self.lines(listed.output).last { $0.hasPrefix("[") }.map(String.init)!.utf8)) as? [[String: Any]])
            #expect(rows.count == 2)
            let ids = Dictionary(uniqueKeysWithValues: rows.map { ($0["saga_id"] as! String, ($0["id"] as! NSNumber).int64Value) })
            for row in rows {
                #expect(row["compensation"] as? String == "refund_payment" && row["attempts"] as? Int == 1 && row["status"] as? String == "parked")
                #expect((row["reason"] as? String)?.hasPrefix("refund rejected by the payment provider") == true)
            }
            let text = try await Self.compensations(cluster, ["list"])
            #expect(text.status == 0 && text.output.contains("refund_payment") && text.output.contains(Self.skipped), "\(text.output)")
            var truth = try await SagaTruth.read(cluster)
            #expect(truth.refunds.isEmpty && truth.reservations[Self.retried] == "reserved")
            #expect(truth.stock["demo-widget"] == SagaTruth.Stock(available: 6, reserved: 4, fulfilled: 0))

            // Usage and lookup errors: one line each.
            let noReason = try await Self.compensations(cluster, ["skip", String(ids[Self.skipped]!)])
            #expect(noReason.status == 2 && Self.lines(noReason.output).count == 1, "\(noReason.output)")
            let unknown = try await Self.compensations(cluster, ["retry", "999999"])
            #expect(unknown.status == 1 && Self.lines(unknown.output) == ["payment-service: no parked compensation 999999"], "\(unknown.output)")

            // A retry that fails again (the fault still on in this process) stays parked, one more attempt.
            let again = try await Self.compensations(cluster, ["retry", String(ids[Self.retried]!), "--fail-refunds", "*-refundfail-*"])
            #expect(again.status == 1 && Self.lines(again.output).count == 1, "\(again.output)")
            #expect(again.output.contains("failed again: refund rejected by the payment provider") && again.output.contains("still parked after 2 attempts"))

            // Retried without the fault: refunded, then released by Inventory; the saga ends compensated.
            let retry = try await Self.compensations(cluster, ["retry", String(ids[Self.retried]!), "--by", "alice"])
            #expect(retry.status == 0 && retry.output.contains("retried by alice; emitted PaymentRefunded"), "\(retry.output)")
            let compensated = try await eventually("the retried saga to be compensated", timeout: .seconds(60), every: .milliseconds(250)) {
                try await cluster.status(Self.retried).flatMap { $0.state == "compensated" ? $0 : nil }
            }
            #expect(compensated.compensations == ["refund_payment", "release_inventory"])
            #expect(compensated.error == "Confirmation dispatch failed for order \(Self.retried)")

            // Skipped: Inventory still releases, and the saga ends compensated with the operator's note.
            let skip = try await Self.compensations(cluster, ["skip", String(ids[Self.skipped]!), "--reason", "refunded by hand, ticket 42", "--by", "bob"])
            #expect(skip.status == 0 && skip.output.contains("skipped by bob; emitted PaymentRefundSkipped"), "\(skip.output)")
            let settled = try await eventually("the skipped saga to be compensated", timeout: .seconds(60), every: .milliseconds(250)) {
                try await cluster.status(Self.skipped).flatMap { $0.state == "compensated" ? $0 : nil }
            }
            #expect(settled.compensations == ["release_inventory"])
            #expect(settled.timeline.contains { $0.name == "refund_payment" && $0.eventType == "PaymentRefundSkipped" && $0.note == "skipped by operator: refunded by hand, ticket 42" })
            let statusText = try await cluster.command(.tracker, ["status", Self.skipped])
            #expect(statusText.contains("skipped by operator: refunded by hand, ticket 42"), "\(statusText)")

            // Resolved ones leave the list; a second resolution is refused.
            let empty = try await Self.compensations(cluster, ["list"])
            #expect(empty.status == 1 && Self.lines(empty.output) == ["payment-service: no parked compensations"], "\(empty.output)")
            let all = try await Self.compensations(cluster, ["list", "--all"])
            #expect(all.status == 0 && all.output.contains("retried by alice") && all.output.contains("skipped by bob"), "\(all.output)")
            let twice = try await Self.compensations(cluster, ["retry", String(ids[Self.skipped]!)])
            #expect(twice.status == 1 && twice.output.contains("was already skipped by bob"), "\(twice.output)")

            // The audit trail: the failed retry, the retry, the skip with its reason.
            let db = try await cluster.connect(.payment)
            let audit = try await AuditLog.entries(on: db)
            await db.close()
            #expect(Array(audit.map { "\($0.action) \($0.actor) \($0.outcome)" }.reversed()) == [
                "compensation.retry \(AuditLog.defaultActor()) failed: refund rejected by the payment provider for order \(Self.retried)",
                "compensation.retry alice done", "compensation.skip bob done",
            ])
            #expect(audit.first?.reason == "refunded by hand, ticket 42" && audit.first?.sagaID == Self.skipped)

            // The services' records: one refund (the retried saga's), every unit back, and saga-check clean.
            truth = try await eventually("the stock to be released", timeout: .seconds(30), every: .milliseconds(250)) {
                let truth = try await SagaTruth.read(cluster)
                return truth.stock["demo-widget"]?.reserved == 0 ? truth : nil
            }
            #expect(truth.refunds.keys.sorted() == [Self.retried])
            #expect(truth.charges[Self.retried]?.status == "refunded" && truth.charges[Self.skipped]?.status == "captured")
            #expect(truth.reservations == [Self.retried: "released", Self.skipped: "released"])
            #expect(truth.stock["demo-widget"] == SagaTruth.Stock(available: 10, reserved: 0, fulfilled: 0))
            let check = try await cluster.check(["--require-terminal"])
            #expect(check.clean, "\(check.output)")
        }
    }
}
