import Foundation
import OrderSaga
import PGClient
import SagaKit

/// One saga's row of the projection, as `list` and `stuck` show it.
public struct SagaSummary: Sendable, Hashable, Encodable {
    public var sagaID: String
    public var state: String
    @ExplicitNull public var currentStep: String?
    @ExplicitNull public var waitingFor: String?
    @ExplicitNull public var startedAt: Date?
    public var updatedAt: Date
    @ExplicitNull public var finishedAt: Date?
    public var completedSteps: [String]
    public var compensations: [String]
    @ExplicitNull public var error: String?
    public var eventCount: Int

    enum CodingKeys: String, CodingKey {
        case sagaID = "sagaId", state, currentStep, waitingFor, startedAt, updatedAt, finishedAt, completedSteps, compensations, error, eventCount
    }

    public init(
        sagaID: String, state: String, currentStep: String?, waitingFor: String?, startedAt: Date?, updatedAt: Date, finishedAt: Date?,
        completedSteps: [String], compensations: [String], error: String?, eventCount: Int
    ) {
        self.sagaID = sagaID
        self.state = state
        self.currentStep = currentStep
        self.waitingFor = waitingFor
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.completedSteps = completedSteps
        self.compensations = compensations
        self.error = error
        self.eventCount = eventCount
    }
}

/// Counts per state and how long sagas take to finish.
public struct SagaStats: Sendable, Hashable, Encodable {
    public struct Durations: Sendable, Hashable, Encodable {
        public var count: Int
        @ExplicitNull public var p50Ms: Double?
        @ExplicitNull public var p95Ms: Double?
        @ExplicitNull public var p99Ms: Double?
        @ExplicitNull public var maxMs: Double?

        enum CodingKeys: String, CodingKey { case count, p50Ms = "p50Ms", p95Ms = "p95Ms", p99Ms = "p99Ms", maxMs = "maxMs" }
    }

    public var total: Int
    public var byState: [String: Int]
    /// From the first event (`OrderPlaced`) to the event that made the saga terminal.
    public var timeToTerminal: Durations
}

extension ProjectionStore {
    static let summaryColumns = """
        saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps, compensations, error, event_count
        """

    static func summary(_ row: PGRow) throws -> SagaSummary {
        SagaSummary(
            sagaID: try row.decode("saga_id"), state: try row.decode("state"), currentStep: try row.decode("current_step"),
            waitingFor: try row.decode("waiting_for"), startedAt: try row.decode("started_at"), updatedAt: try row.decode("updated_at"),
            finishedAt: try row.decode("finished_at"), completedSteps: try textArray(row.decode("completed_steps")),
            compensations: try textArray(row.decode("compensations")), error: try row.decode("error"), eventCount: try row.decode("event_count"))
    }

    /// `{a,b}` → ["a", "b"]; the step names never need quoting.
    private static func textArray(_ text: String) -> [String] {
        let inner = text.dropFirst().dropLast()
        return inner.isEmpty ? [] : inner.split(separator: ",").map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
    }

    /// Sagas, newest first (then by id, so the order is stable).
    public static func list(state: String? = nil, since: Date? = nil, limit: Int = 50, on db: PGConnection) async throws -> [SagaSummary] {
        try await db.query("""
            SELECT \(unsafeRaw: summaryColumns) FROM sagas
            WHERE (\(state)::text IS NULL OR state = \(state)) AND (\(since)::timestamptz IS NULL OR started_at >= \(since))
            ORDER BY started_at DESC NULLS LAST, saga_id LIMIT \(limit)
            """).map(summary)
    }

    /// Sagas still running or compensating whose last event is older than the deadline of the step they wait
    /// for (`deadlines[step]`, else `defaultDeadline`), longest waiting first: at most `limit` of them, so an outage
    /// that left millions waiting costs a page, not the whole table in memory.
    public static func stuck(
        defaultDeadline: Duration, deadlines: [String: Duration] = [:], limit: Int, now: Date = Date(), on db: PGConnection
    ) async throws -> [SagaSummary] {
        // Each step's cut-off goes into the statement, so the limit applies to sagas that are stuck, not to
        // candidates that a longer deadline would then drop.
        let steps = deadlines.keys.sorted()
        let cutoffs = steps.map { now.addingTimeInterval(-deadlines[$0]!.seconds) }
        return try await db.query("""
            SELECT \(unsafeRaw: summaryColumns) FROM sagas
            WHERE state IN ('running', 'compensating')
              AND updated_at < coalesce((SELECT d.cutoff FROM unnest(\(steps)::text[], \(cutoffs)::timestamptz[]) AS d(step, cutoff)
                                         WHERE d.step = sagas.current_step), \(now.addingTimeInterval(-defaultDeadline.seconds)))
            ORDER BY updated_at, saga_id LIMIT \(limit)
            """).map(summary)
    }

    public static func stats(on db: PGConnection) async throws -> SagaStats {
        var byState: [String: Int] = [:]
        for state in SagaState.allCases { byState[state.rawValue] = 0 }
        for row in try await db.query("SELECT state, count(*) AS n FROM sagas GROUP BY state") {
            byState[try row.decode("state")] = try row.decode("n")
        }
        let row = try await db.query("""
            SELECT count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY d) AS p95,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99, max(d) AS max
            FROM (SELECT extract(epoch FROM finished_at - started_at)::float8 * 1000 AS d FROM sagas WHERE finished_at IS NOT NULL) t
            """)[0]
        return SagaStats(
            total: byState.values.reduce(0, +), byState: byState,
            timeToTerminal: SagaStats.Durations(count: try row.decode("n"), p50Ms: try row.decode("p50"), p95Ms: try row.decode("p95"),
                                                p99Ms: try row.decode("p99"), maxMs: try row.decode("max")))
    }
}

/// A saga as `saga-tracker status` shows it: the status derived from its events, and how many dead letters the
/// tracker recorded for it (kept apart from the derivation, which is a function of the events alone).
public struct SagaStatusReport: Sendable, Encodable {
    public var status: SagaStatus
    public var deadLetters: Int

    public init(status: SagaStatus, deadLetters: Int) {
        self.status = status
        self.deadLetters = deadLetters
    }

    enum CodingKeys: String, CodingKey { case deadLetters = "dead_letters" }

    /// The status's own members, plus `dead_letters`, in one object.
    public func encode(to encoder: any Encoder) throws {
        try status.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deadLetters, forKey: .deadLetters)
    }
}

extension ProjectionStore {
    /// `status`, with the saga's dead-letter count; nil if the tracker has seen no event of the saga.
    public static func statusReport(sagaID: String, on db: PGConnection) async throws -> SagaStatusReport? {
        guard let status = try await status(sagaID: sagaID, on: db) else { return nil }
        return SagaStatusReport(status: status, deadLetters: try await DeadLetterStore.count(sagaID: sagaID, on: db))
    }

    /// Why a saga has no status, in words for a not-found message: retention removed it (its order is older than
    /// what retention purged), or the tracker has seen none of its events.
    public static func absence(sagaID: String, on db: PGConnection) async throws -> String {
        let purged = try await db.query("""
            SELECT 1 AS n FROM orders o JOIN projection_retention r ON r.name = 'sagas'
            WHERE o.order_id = \(sagaID) AND o.created_at < r.purged_before
            """)
        return purged.isEmpty
            ? "the tracker has seen none of its events"
            : "it finished and left the view with the retention (--projection-retention-hours); its order is kept"
    }
}
