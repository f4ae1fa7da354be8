import Foundation
import OrderSagaTestSupport
import Testing
import TestSupport

/// Issue 18's console acceptance against the real stack, looked at with a real browser: after the demo's four
/// scenarios (and one order whose id is HTML), headless Chromium sees the four sagas on the list, ORD-2002's
/// compensations, error and waterfall on its page, and the HTML id as text; the JSON API gives what the CLI's
/// `--json` gives. Screenshots go to `SAGAKIT_CONSOLE_SCREENSHOTS` when set (how docs/images are made).
@Suite("Console: the pages after the demo, in headless Chromium", .enabled(if: TestEnvironment.hasStack && Chromium.isInstalled), .timeLimit(.minutes(6)))
struct ConsoleTests {
    static let hostileID = "ORD-2005-<script>alert(1)</script>"

    @Test("the list shows the four sagas, ORD-2002 its compensations, error and waterfall, and an HTML id as text")
    func pagesAfterTheDemo() async throws {
        try await SagaCluster.with { cluster in
            let port = try HTTPProbe.freePort()
            try await cluster.start(
                .tracker, environment: ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(port)", "SAGAKIT_CONSOLE_ALLOWED_HOSTS": "console.example"],
                waitUntilReady: false)
            for service in [SagaCluster.Service.inventory, .payment, .notification] { try await cluster.start(service, waitUntilReady: false) }
            for service in SagaCluster.Service.allCases {
                try await cluster.process(service).waitForOutput("partitions assigned", timeout: .seconds(60))
            }
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "100"])
            _ = try await SagaScenarioTests.start(cluster, "ORD-2001")
            _ = try await SagaScenarioTests.start(cluster, "ORD-2002")
            _ = try await SagaScenarioTests.start(cluster, "ORD-2003")
            _ = try await SagaScenarioTests.start(cluster, "ORD-2004", quantity: 101)
            try await cluster.command(.tracker, [
                "start", "--order-id", Self.hostileID, "--sku", "demo-widget", "--quantity", "1", "--amount", "5.00",
                "--email", "<b>bold</b>@example.com",
            ])
            let ids = ["ORD-2001", "ORD-2002", "ORD-2003", "ORD-2004", Self.hostileID]
            let states = try await cluster.waitForTerminal(ids, timeout: .seconds(60))
            #expect(states["ORD-2002"] == "compensated")
            let base = "http://127.0.0.1:\(port)"

            // The list, as the browser parsed it: every saga, with its state; the hostile id as text only.
            let list = try await Chromium.dumpDOM(base + "/")
            for id in ["ORD-2001", "ORD-2002", "ORD-2003", "ORD-2004"] { #expect(list.contains(">\(id)</a>"), "the list shows \(id)") }
            for state in ["completed", "compensated", "failed"] { #expect(list.contains("state-\(state)")) }
            #expect(list.contains("ORD-2005-&lt;script&gt;alert(1)&lt;/script&gt;"), "the HTML id is shown as text")
            #expect(!list.contains("<script>alert(1)"), "the HTML id never becomes markup")
            #expect(!list.contains("<b>bold</b>"))

            // ORD-2002: compensations, the error, and a waterfall with one row per timeline entry.
            let status = try #require(try await cluster.status("ORD-2002"))
            let saga = try await Chromium.dumpDOM(base + "/sagas/ORD-2002")
            #expect(saga.contains("refund_payment, release_inventory"))
            #expect(saga.contains("Confirmation dispatch failed for order ORD-2002"))
            #expect(saga.contains("class=\"waterfall\""))
            #expect(saga.components(separatedBy: "<g class=\"event\">").count - 1 == status.timeline.count, "one waterfall row per event")
            for entry in status.timeline { #expect(saga.contains(">\(entry.name)</text>"), "the waterfall names \(entry.name)") }

            // The hostile saga's own page, by its percent-encoded id.
            let encoded = Self.hostileID.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
            let hostile = try await HTTPProbe.get(port: port, path: "/sagas/" + encoded)
            #expect(hostile.status == 200)
            #expect(hostile.body.contains("ORD-2005-&lt;script&gt;") && !hostile.body.contains("<script>"))

            // The JSON twins say what the CLI's --json says.
            let apiStatus = try await HTTPProbe.get(port: port, path: "/api/sagas/ORD-2002")
            let cliStatus = try await cluster.command(.tracker, ["status", "ORD-2002", "--json"])
            #expect(try Self.json(apiStatus.body) == Self.json(cliStatus))
            let apiList = try await HTTPProbe.get(port: port, path: "/api/sagas")
            #expect(try Self.json(apiList.body) == Self.json(try await cluster.command(.tracker, ["list", "--json"])))
            let apiStats = try await HTTPProbe.get(port: port, path: "/api/stats")
            #expect(try Self.json(apiStats.body) == Self.json(try await cluster.command(.tracker, ["stats", "--json"])))

            // Bad input: one line, the right status, no crash.
            #expect(try await HTTPProbe.get(port: port, path: "/?state=bogus").status == 400)
            #expect(try await HTTPProbe.get(port: port, path: "/api/sagas?since=yesterday").status == 400)
            #expect(try await HTTPProbe.get(port: port, path: "/sagas/ORD-9999").status == 404)
            #expect(try await HTTPProbe.get(port: port, path: "/stuck").status == 200)
            let deadLetters = try await HTTPProbe.get(port: port, path: "/dead-letters")
            #expect(deadLetters.status == 200 && deadLetters.body.contains("No dead letters."))
            #expect(try await HTTPProbe.get(port: port, path: "/dead-letters?limit=0").status == 400)

            // DNS rebinding: a name an outside site controls, pointed at this loopback console, gets a 403 and no
            // data; the same request by IP address or as localhost gets the page.
            for path in ["/", "/api/sagas", "/sagas/ORD-2002", "/api/stats"] {
                let rebound = try await HTTPProbe.get(port: port, path: path, headers: ["Host": "rebind.example:\(port)"])
                #expect(rebound.status == 403 && rebound.body.contains("--console-allowed-hosts"), "\(path): \(rebound.status)")
                #expect(!rebound.body.contains("ORD-200"), "\(path) shows no saga to a rebound name")
            }
            let rebindPost = try await HTTPProbe.post(
                port: port, path: "/api/actions/skip", form: ["service": "payment", "saga_id": "ORD-2002", "reason": "x"],
                headers: ["Host": "rebind.example", "Authorization": "Bearer some-token-0123456789"])
            #expect(rebindPost.status == 403 && rebindPost.body.contains("--console-allowed-hosts"), "\(rebindPost)")
            #expect(try await HTTPProbe.get(port: port, path: "/api/sagas", headers: ["Host": "localhost:\(port)"]).status == 200)
            #expect(try await HTTPProbe.get(port: port, path: "/", headers: ["Host": "console.example"]).status == 200, "a listed name")
            let badList = try await cluster.attempt(.tracker, ["serve", "--console-allowed-hosts", "http://console.example"])
            #expect(badList.status == 2 && badList.output.contains("--console-allowed-hosts: not a host name"), "\(badList)")

            // Read-only by default: no action forms, and an action is refused even with a token.
            #expect(!saga.contains("method=\"post\""))
            let refused = try await HTTPProbe.post(
                port: port, path: "/api/actions/skip", form: ["service": "payment", "saga_id": "ORD-2002", "reason": "x"],
                headers: ["Authorization": "Bearer some-token-0123456789"])
            #expect(refused.status == 403 && refused.body.contains("Actions are off"), "\(refused)")
            let stats = try await Chromium.dumpDOM(base + "/stats")
            #expect(stats.contains("class=\"per-minute\"") && stats.contains("<rect"), "sagas per minute as a chart")

            let folder = TestEnvironment.value("SAGAKIT_CONSOLE_SCREENSHOTS") ?? FileManager.default.temporaryDirectory.path
            try await Chromium.screenshot(base + "/", to: folder + "/console-sagas.png", height: 640)
            try await Chromium.screenshot(base + "/sagas/ORD-2002", to: folder + "/console-saga-ORD-2002.png", height: 1000)
        }
    }

    /// Parsed, so key order and spacing do not matter.
    static func json(_ text: String) throws -> NSObject {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) as! NSObject
    }
}
