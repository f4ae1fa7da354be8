import Foundation
import OrderSaga
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import TestSupport

/// Issue 18's console actions against the real stack: every process runs with `--allow-actions` and the token;
/// the console forwards a skip and a redrive to the services that own them, refuses without the token, and a
/// resubmitted form acts once.
@Suite("Console actions: redrive and skip through the console, 403 without the token", .enabled(if: TestEnvironment.hasStack && Chromium.isInstalled), .timeLimit(.minutes(6)))
struct ConsoleActionTests {
    static let token = "test-console-token-0123456789"
    static let parked = "CA-failconfirm-refundfail-1"
    static let poisoned = "CA-DLQ-1"

    @Test("a parked refund is skipped and a dead letter redriven from the console; without the token, 403; a resubmitted form acts once")
    func actionsThroughTheConsole() async throws {
        try await SagaCluster.with { cluster in
            var ports: [SagaCluster.Service: Int] = [:]
            for service in SagaCluster.Service.allCases { ports[service] = try HTTPProbe.freePort() }
            func environment(_ service: SagaCluster.Service) -> [String: String] {
                var environment = ["SAGAKIT_ALLOW_ACTIONS": "on", "SAGAKIT_CONSOLE_TOKEN": Self.token, "SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(ports[service]!)"]
                if service == .tracker {
                    for other in [SagaCluster.Service.inventory, .payment, .notification] {
                        environment["\(other.rawValue.uppercased())_HTTP_URL"] = "http://127.0.0.1:\(ports[other]!)"
                    }
                }
                if service == .payment { environment["PAYMENT_FAIL_REFUNDS"] = "*-refundfail-*" }
                return environment
            }
            for service in SagaCluster.Service.allCases {
                var extra = environment(service)
                if service == .inventory { extra[DeadLetterFault.variable] = "CA-DLQ-*" }
                try await cluster.start(service, environment: extra, waitUntilReady: false)
            }
            for service in SagaCluster.Service.allCases { try await cluster.process(service).waitForOutput("partitions assigned", timeout: .seconds(60)) }
            #expect(cluster.process(.tracker).output.contains("operator actions: on"))
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            for id in [Self.parked, Self.poisoned] {
                try await cluster.command(.tracker, ["start", "--order-id", id, "--sku", "demo-widget", "--quantity", "1", "--amount", "5.00", "--email", "a@example.com"])
            }
            #expect(try await cluster.waitForTerminal([Self.parked], timeout: .seconds(90))[Self.parked] == "compensation_failed")
            let console = ports[.tracker]!

            // The tracker's table has the dead letter; the page offers its redrive and the parked saga's retry and skip.
            let letterID = try await eventually("the tracker to record Inventory's dead letter", timeout: .seconds(60), every: .milliseconds(300)) {
                let rows = try JSONSerialization.jsonObject(with: Data(try await HTTPProbe.get(port: console, path: "/api/dead-letters").body.utf8)) as? [[String: Any]]
                return rows?.first { $0["saga_id"] as? String == Self.poisoned && $0["service"] as? String == "inventory" }?["id"] as? String
            }
            let letters = try await HTTPProbe.get(port: console, path: "/dead-letters")
            #expect(letters.status == 200 && letters.body.contains("action=\"/actions/redrive\"") && letters.body.contains(letterID))
            let sagaPage = try await HTTPProbe.get(port: console, path: "/sagas/\(Self.parked)")
            #expect(sagaPage.body.contains("action=\"/actions/skip\"") && sagaPage.body.contains("value=\"payment\""), "\(sagaPage.body.prefix(300))")

            let folder = TestEnvironment.value("SAGAKIT_CONSOLE_SCREENSHOTS") ?? FileManager.default.temporaryDirectory.path
            try await Chromium.screenshot("http://127.0.0.1:\(console)/dead-letters", to: folder + "/console-dead-letters.png", height: 420)
            try await Chromium.screenshot("http://127.0.0.1:\(console)/sagas/\(Self.parked)", to: folder + "/console-saga-parked.png", height: 760)

            // No token, a wrong one, or the service's own endpoint without one: 403, and nothing happens.
            let skip = ["service": "payment", "saga_id": Self.parked, "reason": "refunded by hand, ticket 4711", "by": "alice", "request_id": "req-skip-1"]
            #expect(try await HTTPProbe.post(port: console, path: "/api/actions/skip", form: skip).status == 403)
            #expect(try await HTTPProbe.post(port: console, path: "/api/actions/skip", form: skip, headers: ["Authorization": "Bearer wrong-token-0123456789"]).status == 403)
            #expect(try await HTTPProbe.post(port: console, path: "/actions/skip", form: skip.merging(["token": "nope"]) { $1 }).status == 403)
            #expect(try await HTTPProbe.post(port: ports[.payment]!, path: "/operator/compensations/skip", form: [:]).status == 403)
            let payment = try await cluster.connect(.payment)
            func audit() async throws -> PGRows { try await payment.query("SELECT actor, action, reason, outcome, request_id FROM sagakit_audit_log ORDER BY id") }
            #expect(try await audit().isEmpty)

            // A retry while the fault is still on fails again: 409, still parked, the failure audited.
            let retry = try await HTTPProbe.post(
                port: console, path: "/api/actions/retry", form: ["service": "payment", "saga_id": Self.parked, "request_id": "req-retry-1"],
                headers: ["Authorization": "Bearer " + Self.token])
            #expect(retry.status == 409 && retry.body.contains("failed again"), "\(retry)")

            // A NUL in the reason, which PostgreSQL text cannot hold: a bad request, not a server error; nothing done.
            let nul = try await HTTPProbe.post(
                port: console, path: "/api/actions/skip", form: skip.merging(["reason": "by hand\u{0}", "request_id": "req-skip-nul"]) { $1 },
                headers: ["Authorization": "Bearer " + Self.token])
            #expect(nul.status == 400 && nul.body.contains("NUL"), "\(nul)")

            // When the projection saw it park: retention counts from the resolution below, not from this.
            let tracker = try await cluster.connect(.tracker)
            let parkedSeen: Date = try await tracker.query("SELECT observed_terminal_at FROM sagas WHERE saga_id = \(Self.parked)")[0].decode("observed_terminal_at")

            // The skip, as the page's form sends it (token in the form): done, and the saga ends compensated with the note.
            let done = try await HTTPProbe.post(port: console, path: "/actions/skip", form: skip.merging(["token": Self.token]) { $1 })
            #expect(done.status == 200 && done.body.contains("skipped by console:alice"), "\(done)")
            let again = try await HTTPProbe.post(port: console, path: "/actions/skip", form: skip.merging(["token": Self.token]) { $1 })
            #expect(again.status == 200 && again.body.contains("already acted on"), "a resubmitted form acts once: \(again)")
            // compensation_failed is terminal too: wait for the state to change, not for a terminal one.
            let status = try await eventually("the skipped saga to end compensated", timeout: .seconds(60), every: .milliseconds(200)) {
                try await cluster.status(Self.parked).flatMap { $0.state == "compensated" ? $0 : nil }
            }
            #expect(status.timeline.contains { $0.note == "skipped by operator: refunded by hand, ticket 4711" })
            let resolvedSeen: Date = try await tracker.query("SELECT observed_terminal_at FROM sagas WHERE saga_id = \(Self.parked)")[0].decode("observed_terminal_at")
            #expect(resolvedSeen > parkedSeen, "retention's clock restarts at the resolution: \(parkedSeen) → \(resolvedSeen)")
            await tracker.close()
            let rows = try await audit()
            #expect(rows.count == 2, "the failed retry and the skip")
            #expect(try rows.map { try $0.decode("action", as: String.self) } == [AuditLog.Action.retryCompensation, AuditLog.Action.skipCompensation])
            #expect(try rows[1].decode("actor", as: String.self) == "console:alice" && rows[1].decode("request_id", as: String?.self) == "req-skip-1")
            #expect(try rows[0].decode("request_id", as: String?.self) == nil, "a retry that failed again keeps no request id: it may be sent again")
            await payment.close()

            // The fix for the dead letter: Inventory without the fault option; then the redrive, through the API.
            try await cluster.stop(.inventory)
            try await cluster.start(.inventory, environment: environment(.inventory))
            let redrive = try await HTTPProbe.post(
                port: console, path: "/api/actions/redrive", form: ["service": "inventory", "dead_letter_id": letterID, "request_id": "req-redrive-1"],
                headers: ["Authorization": "Bearer " + Self.token])
            #expect(redrive.status == 200 && redrive.body.contains("\"ok\":true"), "\(redrive)")
            let repeated = try await HTTPProbe.post(
                port: console, path: "/api/actions/redrive", form: ["service": "inventory", "dead_letter_id": letterID, "request_id": "req-redrive-1"],
                headers: ["Authorization": "Bearer " + Self.token])
            #expect(repeated.status == 200 && repeated.body.contains("already acted on"), "\(repeated)")
            #expect(try await cluster.waitForTerminal([Self.poisoned], timeout: .seconds(60))[Self.poisoned] == "completed")
            let inventory = try await cluster.connect(.inventory)
            let redrives: Int = try await inventory.query("SELECT count(*) AS n FROM sagakit_audit_log WHERE action = 'dead_letter.redrive' AND outcome = 'done'")[0].decode("n")
            await inventory.close()
            #expect(redrives == 1, "redriven once")
            let check = try await cluster.check(["--require-terminal"])
            #expect(check.clean, "saga-check: \(check.output)")
        }
    }
}
