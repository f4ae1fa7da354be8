import Foundation
import PGClient

/// What the console's saga list filters by; every part optional.
public struct SagaFilter: Sendable, Hashable {
    public var state: String?
    /// Started at or after.
    public var since: Date?
    /// Started before.
    public var until: Date?
    /// Saga ids that start with this (an order-number range, a test's prefix).
    public var idPrefix: String?
    public var limit: Int
    public var offset: Int

    public init(state: String? = nil, since: Date? = nil, until: Date? = nil, idPrefix: String? = nil, limit: Int = 50, offset: Int = 0) {
        self.state = state
        self.since = since
        self.until = until
        self.idPrefix = idPrefix
        self.limit = limit
        self.offset = offset
    }
}

/// Sagas started in one minute, by the state they are in now.
public struct MinuteCount: Sendable, Hashable, Encodable {
    public var minute: Date
    public var byState: [String: Int]

    public var total: Int { byState.values.reduce(0, +) }
}

extension ProjectionStore {
    /// One page of sagas, newest first (then by id, so pages do not overlap).
    public static func search(_ filter: SagaFilter, on db: PGConnection) async throws -> [SagaSummary] {
        try await db.query("""
            SELECT \(unsafeRaw: summaryColumns) FROM sagas
            WHERE (\(filter.state)::text IS NULL OR state = \(filter.state))
              AND (\(filter.since)::timestamptz IS NULL OR started_at >= \(filter.since))
              AND (\(filter.until)::timestamptz IS NULL OR started_at < \(filter.until))
              AND (\(filter.idPrefix)::text IS NULL OR starts_with(saga_id, \(filter.idPrefix)))
            ORDER BY started_at DESC NULLS LAST, saga_id LIMIT \(filter.limit) OFFSET \(filter.offset)
            """).map(summary)
    }

    /// How many sagas match the filter's time range and prefix, per state (every state present, zeros too).
    public static func countByState(_ filter: SagaFilter, on db: PGConnection) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for state in SagaState.allCases { counts[state.rawValue] = 0 }
        for row in try await db.query("""
            SELECT state, count(*) AS n FROM sagas
            WHERE (\(filter.since)::timestamptz IS NULL OR started_at >= \(filter.since))
              AND (\(filter.until)::timestamptz IS NULL OR started_at < \(filter.until))
              AND (\(filter.idPrefix)::text IS NULL OR starts_with(saga_id, \(filter.idPrefix)))
            GROUP BY state
            """) {
            counts[try row.decode("state")] = try row.decode("n")
        }
        return counts
    }

    /// Sagas started per minute from `since` to `until`, by their state now; minutes without a saga are left out.
    public static func startedPerMinute(since: Date, until: Date, on db: PGConnection) async throws -> [MinuteCount] {
        var minutes: [Date: [String: Int]] = [:]
        for row in try await db.query("""
            SELECT date_trunc('minute', started_at) AS minute, state, count(*) AS n FROM sagas
            WHERE started_at >= \(since) AND started_at < \(until) GROUP BY 1, 2
            """) {
            minutes[try row.decode("minute"), default: [:]][try row.decode("state")] = try row.decode("n")
        }
        return minutes.keys.sorted().map { MinuteCount(minute: $0, byState: minutes[$0]!) }
    }
}
