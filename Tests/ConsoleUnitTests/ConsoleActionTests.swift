import ArgumentParser
import Foundation
import SagaKitService
import Testing
import Tracker
@testable import Console

@Suite("Console actions: the token, the forms, and where each goes")
struct ConsoleActionTests {
    static let token = "s3cret-console-token-0123"

    @Test("the token admits itself, as a bearer header or bare, and nothing else; short or spaced tokens are refused")
    func tokenAdmission() throws {
        let access = try #require(OperatorAccess(token: Self.token))
        #expect(access.admits(authorization: "Bearer " + Self.token))
        #expect(access.admits(authorization: Self.token))
        #expect(!access.admits(authorization: nil))
        #expect(!access.admits(authorization: ""))
        #expect(!access.admits(authorization: "Bearer " + Self.token + "x"))
        #expect(!access.admits(authorization: "Bearer " + String(Self.token.dropLast())))
        #expect(!access.admits(authorization: "Basic " + Self.token))
        #expect(OperatorAccess(token: "short") == nil)
        #expect(OperatorAccess(token: "has a space in it, long enough") == nil)
        #expect(access.authorizationHeader == "Bearer " + Self.token)
    }

    @Test("--allow-actions needs the token from the environment; SAGAKIT_ALLOW_ACTIONS takes on or off only")
    func options() throws {
        var options = try OperatorOptions.parse([])
        #expect(try options.access(environment: [:]) == nil)
        #expect(try options.access(environment: ["SAGAKIT_CONSOLE_TOKEN": Self.token]) == nil, "a token alone turns nothing on")
        #expect(try options.access(environment: ["SAGAKIT_ALLOW_ACTIONS": "on", "SAGAKIT_CONSOLE_TOKEN": Self.token]) != nil)
        #expect(throws: (any Error).self) { try options.access(environment: ["SAGAKIT_ALLOW_ACTIONS": "yes", "SAGAKIT_CONSOLE_TOKEN": Self.token]) }
        options.allowActions = true  // as `--allow-actions` sets it; parsing it here would validate against this process's environment
        #expect(throws: (any Error).self) { try options.access(environment: [:]) }
        #expect(throws: (any Error).self) { try options.access(environment: ["SAGAKIT_CONSOLE_TOKEN": "short"]) }
        #expect(try options.access(environment: ["SAGAKIT_CONSOLE_TOKEN": Self.token]) != nil)
    }

    @Test("a posted form becomes the service's request: which, who, the request id; missing or oversized fields are 400s")
    func forms() throws {
        let skip = try ActionForm(
            fields: ["service": "payment", "saga_id": "ORD-1", "reason": " refunded by hand ", "request_id": "r-1", "by": "alice", "token": "t"],
            authorization: nil, kind: .skip)
        #expect(skip.service == "payment" && skip.token == "t")
        #expect(skip.request == OperatorRequest(requestID: "r-1", actor: "alice", sagaID: "ORD-1", reason: "refunded by hand"))
        let redrive = try ActionForm(fields: ["service": "inventory", "dead_letter_id": "orders.dlq:0:4"], authorization: "Bearer x", kind: .redrive)
        #expect(redrive.token == "Bearer x", "a bearer header stands for the token")
        let behindProxy = try ActionForm(fields: ["service": "inventory", "dead_letter_id": "orders.dlq:0:4", "token": "t"], authorization: "Basic YTpi", kind: .redrive)
        #expect(behindProxy.token == "t", "a proxy's Basic header does not hide the form's token")
        #expect(redrive.request.actor == "operator" && redrive.request.deadLetterID == "orders.dlq:0:4")
        #expect(throws: ConsoleInputError.self) { try ActionForm(fields: ["saga_id": "ORD-1"], authorization: nil, kind: .retry) }
        #expect(throws: ConsoleInputError.self) { try ActionForm(fields: ["service": "payment", "saga_id": "ORD-1"], authorization: nil, kind: .skip) }
        #expect(throws: ConsoleInputError.self) { try ActionForm(fields: ["service": "payment"], authorization: nil, kind: .redrive) }
        #expect(throws: ConsoleInputError.self) {
            try ActionForm(fields: ["service": "payment", "saga_id": "ORD-1", "reason": String(repeating: "x", count: 501)], authorization: nil, kind: .skip)
        }
    }

    @Test("a service is reached at <SERVICE>_HTTP_URL, else its default port; a name that is not a service name is refused")
    func serviceURLs() throws {
        let access = try #require(OperatorAccess(token: Self.token))
        let actions = ConsoleActions(access: access, environment: ["PAYMENT_HTTP_URL": "http://10.0.0.7:8080/"])
        #expect(actions.baseURL(service: "payment") == "http://10.0.0.7:8080")
        #expect(actions.baseURL(service: "inventory") == "http://127.0.0.1:9471")
        #expect(actions.baseURL(service: "evil.example.com/x") == nil)
        #expect(actions.baseURL(service: "loyalty") == nil, "an unknown service needs its LOYALTY_HTTP_URL")
        #expect(ConsoleActions(access: access, environment: ["LOYALTY_HTTP_URL": "http://127.0.0.1:9999"]).baseURL(service: "loyalty") == "http://127.0.0.1:9999")
        #expect(actions.baseURL(service: "Payment") == nil)
        #expect(actions.baseURL(service: "") == nil)
    }

    @Test("forms appear only with actions on: redrive per dead letter, retry and skip for a compensation_failed saga, values escaped")
    func formsOnPages() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let letter = TrackedDeadLetter(
            id: "orders.dlq:0:7", sagaID: "ORD-<i>x</i>", service: "inventory", consumer: "saga", reason: "invalid envelope: <script>",
            sourceTopic: "orders", sourcePartition: 0, sourceOffset: 12, key: "k\"ey", eventType: nil, eventID: nil, time: now)
        let query = try DeadLetterQuery(parameters: [:])
        let off = DeadLettersPage(query: query, letters: [letter], actionsEnabled: false, refresh: nil).html.rendered
        #expect(!off.contains("action=\"/actions/redrive\""))
        #expect(off.contains("invalid envelope: &lt;script&gt;") && !off.contains("<script>"))
        #expect(off.contains("ORD-&lt;i&gt;x&lt;/i&gt;") && off.contains("k&quot;ey"))
        let on = DeadLettersPage(query: query, letters: [letter], actionsEnabled: true, refresh: nil).html.rendered
        #expect(on.contains("action=\"/actions/redrive\"") && on.contains("value=\"orders.dlq:0:7\"") && on.contains("name=\"token\""))

        let types = [("OrderPlaced", "tracker"), ("InventoryReserved", "inventory"), ("PaymentCaptured", "payment"),
                     ("ConfirmationFailed", "notification"), ("PaymentRefundFailed", "payment")]
        let events = types.enumerated().map { index, item in
            SagaEventRecord(eventID: UUID(), eventType: item.0, producer: item.1, occurredAt: now.addingTimeInterval(Double(index)),
                            causationID: nil, payload: "{\"reason\":\"rejected\"}")
        }
        let status = try #require(SagaProjection.derive(sagaID: "ORD-9", events: events))
        #expect(status.state == .compensationFailed)
        let report = SagaStatusReport(status: status, deadLetters: 0)
        let page = SagaPage(report: report, deadLetters: [], actionsEnabled: true, refresh: nil)
        #expect(page.parkingServices == ["payment"])
        let html = page.html.rendered
        #expect(html.contains("action=\"/actions/retry\"") && html.contains("action=\"/actions/skip\"") && html.contains("value=\"payment\""))
        let readOnly = SagaPage(report: report, deadLetters: [], actionsEnabled: false, refresh: nil).html.rendered
        #expect(!readOnly.contains("<form method=\"post\"") && readOnly.contains("payment-service compensations list"))
    }
}
