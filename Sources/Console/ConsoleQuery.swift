import Foundation
import SagaKit
import SagaKitService
import Tracker

/// A request the console cannot answer as asked: a 400 with this one line, never a crash or a 500.
struct ConsoleInputError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The saga list's query string: `state`, `since`, `until` (RFC 3339 or an age such as `30m`), `prefix`, `page`.
struct ListQuery: Sendable, Hashable {
    static let pageSize = 50
    static let maxPage = 10_000

    var state: String?
    var since: String?
    var until: String?
    var prefix: String?
    var page = 1

    init() {}

    init(parameters: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let text = parameters[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        state = value("state")
        if let state, SagaState(rawValue: state) == nil {
            throw ConsoleInputError("state: '\(state)' is not one of \(SagaState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        since = value("since")
        until = value("until")
        prefix = value("prefix")
        if let prefix, prefix.utf8.count > 128 { throw ConsoleInputError("prefix: at most 128 bytes") }
        if let text = value("page") {
            guard let number = Int(text), (1...Self.maxPage).contains(number) else {
                throw ConsoleInputError("page: '\(text)' is not a number from 1 to \(Self.maxPage)")
            }
            page = number
        }
    }

    func filter(now: Date = Date()) throws -> SagaFilter {
        SagaFilter(
            state: state, since: try since.map { try Self.time($0, name: "since", now: now) },
            until: try until.map { try Self.time($0, name: "until", now: now) }, idPrefix: prefix,
            limit: Self.pageSize, offset: (page - 1) * Self.pageSize)
    }

    /// The query string that gives this list again (what the pager and the state chips link to).
    var encoded: String {
        var parts: [String] = []
        for (name, value) in [("state", state), ("since", since), ("until", until), ("prefix", prefix)] {
            if let value { parts.append("\(name)=\(URLComponent.encode(value))") }
        }
        if page > 1 { parts.append("page=\(page)") }
        return parts.joined(separator: "&")
    }

    static func time(_ text: String, name: String, now: Date) throws -> Date {
        if let date = RFC3339.parse(text) { return date }
        if let seconds = TimeArgument.parseAge(text), seconds.isFinite, seconds < 100 * 365 * 86400 {
            return now.addingTimeInterval(-seconds)
        }
        throw ConsoleInputError("\(name): '\(text)' is neither RFC 3339 (2026-12-05T06:00:00Z) nor an age (90s, 30m, 2h, 7d)")
    }
}

/// `older_than` for the stuck list: an age such as `30s` (default) or `5m`.
struct StuckQuery: Sendable, Hashable {
    var olderThan = "30s"
    var seconds: Double = 30

    init(parameters: [String: String]) throws {
        if let text = parameters["older_than"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            guard let seconds = TimeArgument.parseAge(text), seconds.isFinite, seconds < 365 * 86400 else {
                throw ConsoleInputError("older_than: '\(text)' is not an age (90s, 30m, 2h)")
            }
            olderThan = text
            self.seconds = seconds
        }
    }
}

/// `/dead-letters`' query: `service`, `saga`, `limit` (1 to 1000, default 100).
struct DeadLetterQuery: Sendable, Hashable {
    var service: String?
    var saga: String?
    var limit = 100

    init(parameters: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let text = parameters[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            return text
        }
        service = value("service")
        saga = value("saga")
        if let service, service.utf8.count > 63 { throw ConsoleInputError("service: at most 63 bytes") }
        if let saga, saga.utf8.count > 1024 { throw ConsoleInputError("saga: at most 1024 bytes") }
        if let text = value("limit") {
            guard let number = Int(text), (1...1000).contains(number) else { throw ConsoleInputError("limit: '\(text)' is not a number from 1 to 1000") }
            limit = number
        }
    }
}

/// A posted action form (or an API call's form body): which action on what, who, and the request's id.
struct ActionForm: Sendable, Hashable {
    var service: String
    var token: String?
    var request: OperatorRequest

    init(fields: [String: String], authorization: String?, kind: ConsoleAction) throws {
        func value(_ name: String) -> String? {
            guard let text = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
            return text
        }
        // A proxy's `Authorization: Basic ...` is not ours: only a bearer header stands in for the form's token.
        token = authorization.flatMap { $0.hasPrefix("Bearer ") ? $0 : nil } ?? value("token")
        guard let service = value("service") else { throw ConsoleInputError("service: which service acts (inventory, payment, ...)") }
        self.service = service
        let by = value("by") ?? "operator"
        guard by.utf8.count <= 200, !ConsoleInput.hasControlCharacters(by) else { throw ConsoleInputError("by: at most 200 bytes, no control characters") }
        let requestID = value("request_id")
        if let requestID, requestID.utf8.count > 200 { throw ConsoleInputError("request_id: at most 200 bytes") }
        request = OperatorRequest(requestID: requestID, actor: by)
        switch kind {
        case .redrive:
            guard let id = value("dead_letter_id") else { throw ConsoleInputError("dead_letter_id: which dead letter (<dlq topic>:<partition>:<offset>)") }
            request.deadLetterID = id
        case .retry, .skip:
            guard let saga = value("saga_id") else { throw ConsoleInputError("saga_id: whose parked compensation") }
            request.sagaID = saga
            if kind == .skip {
                guard let reason = value("reason") else { throw ConsoleInputError("reason: a skip needs one") }
                guard reason.utf8.count <= 500 else { throw ConsoleInputError("reason: at most 500 bytes") }
                request.reason = reason
            }
        }
    }
}

/// The actions the console can request, and the service route each goes to.
enum ConsoleAction: String, Sendable, CaseIterable {
    case redrive, retry, skip

    var servicePath: String {
        switch self {
        case .redrive: OperatorRoutes.redrivePath
        case .retry: OperatorRoutes.retryPath
        case .skip: OperatorRoutes.skipPath
        }
    }
}

/// Checks every value from a URL or a form shares.
enum ConsoleInput {
    /// Control characters (NUL above all, which PostgreSQL's text refuses) are never part of an id, a name or a reason.
    static func hasControlCharacters(_ text: String) -> Bool {
        TextInput.hasControlCharacter(text)
    }

    /// The query string's fields, refusing any value with a control character (400, not a database error).
    static func fields(_ query: String?) throws -> [String: String] {
        let fields = FormFields.parse(query ?? "")
        if let (name, _) = fields.first(where: { hasControlCharacters($0.value) }) {
            throw ConsoleInputError("\(name.prefix(40)): control characters are not allowed")
        }
        return fields
    }
}
