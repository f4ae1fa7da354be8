import Foundation
import PGClient

/// One operator action, as `sagakit_audit_log` keeps it.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var id: Int64
    public var at: Date
    /// Who acted (`AuditLog.defaultActor()` unless the command named someone).
    public var actor: String
    /// `dead_letter.redrive`, `compensation.retry`, `compensation.skip`.
    public var action: String
    /// What was acted on: a dead letter's coordinates, a parked compensation's id.
    public var target: String
    public var sagaID: String?
    /// Why, in the operator's words.
    public var reason: String?
    /// `done`, or what went wrong.
    public var outcome: String
    public var detail: [String: String]
    /// The request's id when the action came as a message (the console's), which makes it happen once.
    public var requestID: String?

    enum CodingKeys: String, CodingKey {
        case id, at, actor, action, target, sagaID = "saga_id", reason, outcome, detail, requestID = "request_id"
    }
}

/// The operators' audit trail in each service's database: every command that changes what the saga machinery
/// did (a redrive, a retried or skipped compensation) writes one row, in the same transaction as its effect where
/// it has one, so the trail and the effect cannot disagree.
public enum AuditLog {
    public enum Action {
        public static let redriveDeadLetter = "dead_letter.redrive"
        public static let retryCompensation = "compensation.retry"
        public static let skipCompensation = "compensation.skip"
    }

    /// Who acts when a command names nobody: `SAGAKIT_OPERATOR`, else the OS user, else `unknown`.
    public static func defaultActor(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        for name in ["SAGAKIT_OPERATOR", "USER", "LOGNAME"] {
            if let value = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty {
                return String(value.prefix(200))
            }
        }
        return "unknown"
    }

    /// Appends a row in the caller's transaction. With a `requestID` already recorded, a unique violation
    /// rolls the caller's transaction back: the request was acted on before.
    public static func record(
        actor: String, action: String, target: String, sagaID: String?, reason: String?, outcome: String,
        detail: [String: String] = [:], requestID: String? = nil, on tx: isolated PGConnection
    ) throws {
        try tx.query("""
            INSERT INTO sagakit_audit_log (actor, action, target, saga_id, reason, outcome, detail, request_id)
            VALUES (\(actor), \(action), \(target), \(sagaID), \(reason), \(outcome), \(encode(detail)), \(requestID))
            """)
    }

    /// Whether a request (by its id) was already acted on.
    public static func hasRequest(_ requestID: String, on db: isolated PGConnection) throws -> Bool {
        try !db.query("SELECT 1 FROM sagakit_audit_log WHERE request_id = \(requestID)").isEmpty
    }

    /// The newest entries first, for one saga or all.
    public static func entries(sagaID: String? = nil, limit: Int = 100, on db: PGConnection) async throws -> [AuditEntry] {
        let rows = try await db.query("""
            SELECT id, at, actor, action, target, saga_id, reason, outcome, detail, request_id FROM sagakit_audit_log
            WHERE \(sagaID)::text IS NULL OR saga_id = \(sagaID)
            ORDER BY id DESC LIMIT \(limit)
            """)
        return try rows.map { row in
            AuditEntry(
                id: try row.decode("id"), at: try row.decode("at"), actor: try row.decode("actor"), action: try row.decode("action"),
                target: try row.decode("target"), sagaID: try row.decode("saga_id"), reason: try row.decode("reason"),
                outcome: try row.decode("outcome"), detail: decode(try row.decode("detail")), requestID: try row.decode("request_id"))
        }
    }

    static func encode(_ detail: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(detail)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}
