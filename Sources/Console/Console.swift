import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PGClient
import SagaKit
import SagaKitService
import Tracker

/// The operator console: server-rendered pages over the tracker's projection, mounted on the HTTP server the
/// tracker already runs for `/metrics` and the health checks (`saga-tracker run`, or `saga-tracker serve` for the
/// console alone). Pages work without JavaScript; every page has a JSON twin under `/api` in the shapes of the
/// CLI's `--json`. Read-only unless `actions` is given (`--allow-actions` with `SAGAKIT_CONSOLE_TOKEN`): then
/// redrive, retry and skip forms appear, and each action is forwarded to the service that owns it.
public struct Console: Sendable {
    /// The tracker's database. One connection serves every page: an operator's pages make a few short queries each.
    let database: PGReconnectingConnection
    let actions: ConsoleActions?
    /// The `Host` names answered; any other gets a 403 (DNS rebinding, `ConsoleHosts`).
    let hosts: ConsoleHosts
    let logger: Logger

    public init(database: PGConfig, actions: ConsoleActions? = nil, hosts: ConsoleHosts = ConsoleHosts(), logger: Logger) {
        var logger = logger
        logger[metadataKey: "component"] = "console"
        var config = database
        config.connectTimeoutSeconds = 3
        self.database = PGReconnectingConnection(config: config, logger: logger)
        self.actions = actions
        self.hosts = hosts
        self.logger = logger
    }

    /// Adds the console's routes.
    public func mount(on router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in await page(request) { try await listPage(request).html } }
        router.get("/api/sagas") { request, _ in await api(request) { try await listQuery(request).sagas } }
        router.get("/sagas/**") { request, _ in await page(request) { try await sagaPage(request).html } }
        router.get("/api/sagas/**") { request, _ in await api(request) { try await sagaPage(request).report } }
        router.get("/stuck") { request, _ in await page(request) { try await stuckPage(request).html } }
        router.get("/api/stuck") { request, _ in await api(request) { try await stuckPage(request).sagas } }
        router.get("/stats") { request, _ in await page(request) { try await statsPage(request).html } }
        router.get("/api/stats") { request, _ in await api(request) { try await statsPage(request).stats } }
        router.get("/api/stats/per-minute") { request, _ in await api(request) { try await statsPage(request).perMinute } }
        router.get("/dead-letters") { request, _ in await page(request) { try await deadLettersPage(request).html } }
        router.get("/api/dead-letters") { request, _ in await api(request) { try await deadLettersPage(request).letters } }
        for action in ConsoleAction.allCases {
            router.post(RouterPath("/actions/\(action.rawValue)")) { request, _ in await act(action, request, json: false) }
            router.post(RouterPath("/api/actions/\(action.rawValue)")) { request, _ in await act(action, request, json: true) }
        }
    }

    // MARK: - Pages

    private func listQuery(_ request: Request) async throws -> (query: ListQuery, filter: SagaFilter, sagas: [SagaSummary]) {
        let query = try ListQuery(parameters: ConsoleInput.fields(request.uri.query))
        let filter = try query.filter()
        let sagas = try await database.with { try await ProjectionStore.search(filter, on: $0) }
        return (query, filter, sagas)
    }

    private func listPage(_ request: Request) async throws -> SagaListPage {
        let (query, filter, sagas) = try await listQuery(request)
        let counts = try await database.with { try await ProjectionStore.countByState(filter, on: $0) }
        return SagaListPage(filter: filter, query: query, sagas: sagas, counts: counts, refresh: refresh(request))
    }

    private func sagaPage(_ request: Request) async throws -> SagaPage {
        let id = try Self.sagaID(path: request.uri.path)
        let found = try await database.with { db -> Result<(SagaStatusReport, [TrackedDeadLetter]), ConsoleNotFound> in
            guard let report = try await ProjectionStore.statusReport(sagaID: id, on: db) else {
                return .failure(ConsoleNotFound("No saga \(id): \(try await ProjectionStore.absence(sagaID: id, on: db))."))
            }
            let letters = report.deadLetters == 0 ? [] : try await DeadLetterStore.list(sagaID: id, limit: 100, on: db)
            return .success((report, letters))
        }
        let (report, letters) = try found.get()
        return SagaPage(report: report, deadLetters: letters, actionsEnabled: actions != nil, refresh: refresh(request))
    }

    private func deadLettersPage(_ request: Request) async throws -> DeadLettersPage {
        let query = try DeadLetterQuery(parameters: ConsoleInput.fields(request.uri.query))
        let letters = try await database.with { try await DeadLetterStore.list(service: query.service, sagaID: query.saga, limit: query.limit, on: $0) }
        return DeadLettersPage(query: query, letters: letters, actionsEnabled: actions != nil, refresh: refresh(request))
    }

    private func stuckPage(_ request: Request) async throws -> StuckPage {
        let query = try StuckQuery(parameters: ConsoleInput.fields(request.uri.query))
        let now = Date()
        let sagas = try await database.with {
            try await ProjectionStore.stuck(defaultDeadline: .milliseconds(Int64(query.seconds * 1000)), limit: StuckPage.shownAtMost, now: now, on: $0)
        }
        return StuckPage(query: query, sagas: sagas, now: now, refresh: refresh(request))
    }

    private func statsPage(_ request: Request) async throws -> StatsPage {
        let now = Date()
        let from = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 60).rounded(.down) * 60 - 59 * 60)
        let (stats, perMinute) = try await database.with { db in
            (try await ProjectionStore.stats(on: db), try await ProjectionStore.startedPerMinute(since: from, until: now.addingTimeInterval(60), on: db))
        }
        return StatsPage(stats: stats, perMinute: perMinute, from: from, refresh: refresh(request))
    }

    /// `refresh=N` (2 to 3600 seconds) reloads the page every N seconds; anything else, never.
    private func refresh(_ request: Request) -> Int? {
        guard let text = FormFields.parse(request.uri.query ?? "")["refresh"], let seconds = Int(text), (2...3600).contains(seconds) else { return nil }
        return seconds
    }

    /// `/sagas/<id>` or `/api/sagas/<id>`: the id percent-decoded, so any id the intake accepts has a page.
    static func sagaID(path: String) throws -> String {
        guard let range = path.range(of: "/sagas/") else { throw ConsoleInputError("no saga id in the path") }
        let raw = String(path[range.upperBound...])
        guard let id = raw.removingPercentEncoding, !id.isEmpty, id.utf8.count <= 1024 else {
            throw ConsoleInputError("the saga id in the path is not valid percent-encoding")
        }
        guard !ConsoleInput.hasControlCharacters(id) else { throw ConsoleInputError("a saga id has no control characters") }
        return id
    }

    // MARK: - Actions

    /// A posted action: 403 unless actions are on and the token (bearer header or form field) is right; then the
    /// owning service's answer, as a page or as its JSON reply.
    private func act(_ action: ConsoleAction, _ request: Request, json: Bool) async -> Response {
        let (status, reply) = admitsHost(request) ? await perform(action, request) : (.forbidden, OperatorReply(ok: false, message: Self.blockedHost))
        if json { return Self.json(status, (try? JSONOutput.string(reply)) ?? "{}") }
        let title = reply.ok ? "Done" : (status == .forbidden ? "Forbidden" : "Not done")
        return Self.html(status, MessagePage(title: title, message: reply.message).html)
    }

    private func perform(_ action: ConsoleAction, _ request: Request) async -> (HTTPResponse.Status, OperatorReply) {
        guard let actions else {
            return (.forbidden, OperatorReply(ok: false, message: "Actions are off: start the console with --allow-actions and SAGAKIT_CONSOLE_TOKEN."))
        }
        let form: ActionForm
        do {
            let body = try await request.body.collect(upTo: 64 * 1024)
            let fields = FormFields.parse(String(buffer: body))
            if let (name, _) = fields.first(where: { $0.key != "reason" && ConsoleInput.hasControlCharacters($0.value) }) {
                throw ConsoleInputError("\(name.prefix(40)): control characters are not allowed")
            }
            form = try ActionForm(fields: fields, authorization: request.headers[.authorization], kind: action)
        } catch let error as ConsoleInputError {
            return (.badRequest, OperatorReply(ok: false, message: error.description))
        } catch {
            return (.badRequest, OperatorReply(ok: false, message: "the body is not a form (application/x-www-form-urlencoded, at most 64 KiB)"))
        }
        guard actions.access.admits(authorization: form.token) else {
            return (.forbidden, OperatorReply(ok: false, message: "A valid token is required for actions."))
        }
        let (status, reply) = await actions.forward(form.request, to: form.service, path: action.servicePath)
        logger.notice("console action", metadata: [
            "action": "\(action.rawValue)", "actor": "\(form.request.actor)", "service": "\(form.service)", "status": "\(status.code)",
        ])
        return (status, reply)
    }

    // MARK: - Responses

    private func page(_ request: Request, _ render: () async throws -> HTML) async -> Response {
        guard admitsHost(request) else { return Self.html(.forbidden, MessagePage(title: "Forbidden", message: Self.blockedHost).html) }
        do {
            return Self.html(.ok, try await render())
        } catch {
            let (status, message) = classify(error, request: request)
            return Self.html(status, MessagePage(title: status == .notFound ? "Not found" : status.reasonPhrase, message: message).html)
        }
    }

    private func api<T: Encodable>(_ request: Request, _ produce: () async throws -> T) async -> Response {
        guard admitsHost(request) else { return Self.json(.forbidden, (try? JSONOutput.string(["error": Self.blockedHost])) ?? "{}") }
        do {
            return Self.json(.ok, try JSONOutput.string(try await produce()))
        } catch {
            let (status, message) = classify(error, request: request)
            return Self.json(status, (try? JSONOutput.string(["error": message])) ?? "{}")
        }
    }

    /// Whether the request's `Host` is one the console answers for. The refusal names neither the host nor any data.
    private func admitsHost(_ request: Request) -> Bool {
        if hosts.admits(host: request.head.authority) { return true }
        logger.debug("console: refused a request for a host not in --console-allowed-hosts")
        return false
    }

    static let blockedHost =
        "This console answers only for localhost, IP addresses and the names in --console-allowed-hosts (SAGAKIT_CONSOLE_ALLOWED_HOSTS)."

    /// A bad query is the caller's (400), an unknown saga 404, anything else the database's (503, logged
    /// without the query's values).
    private func classify(_ error: any Error, request: Request) -> (HTTPResponse.Status, String) {
        switch error {
        case let error as ConsoleInputError: return (.badRequest, error.description)
        case let error as ConsoleNotFound: return (.notFound, error.description)
        default:
            logger.warning("console: \(request.uri.path) failed: \(CommandRunner.oneLine(PGConfig.redact("\(error)")))")
            return (.serviceUnavailable, "The tracker's database did not answer; try again shortly.")
        }
    }

    static let securityHeaders: [(String, String)] = [
        // Inline styles only (the pages' own); no scripts, frames, or forms to other origins.
        ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]

    static func html(_ status: HTTPResponse.Status, _ body: HTML) -> Response {
        response(status, contentType: "text/html; charset=utf-8", body: body.rendered)
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        response(status, contentType: "application/json", body: body)
    }

    private static func response(_ status: HTTPResponse.Status, contentType: String, body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        for (name, value) in securityHeaders {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// Nothing to show at this address.
struct ConsoleNotFound: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// `application/x-www-form-urlencoded` (a query string or a posted form): `+` is a space, `%XX` a byte. A name
/// given twice keeps its first value; a malformed escape keeps the text as it was.
enum FormFields {
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(parts[0])
            guard !name.isEmpty, fields[name] == nil else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
