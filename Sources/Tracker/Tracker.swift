import CoreMetrics
import Foundation
import KafkaClient
import OrderSaga
import PGClient
import SagaKit
import Metrics
import ServiceLifecycle

/// The saga tracker: records every saga event from every topic and keeps one status row per saga, derived from
/// the events alone. It is also where orders start (`saga-tracker start`): the order and its `OrderPlaced` event
/// commit together in its database, and its relay publishes the event.
public enum Tracker: SagaParticipant {
    public static let name = "tracker"
    public static let executableName = "saga-tracker"
    public static let databaseURLVariable = "TRACKER_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    /// How the tracker keeps its view.
    public struct Configuration: Sendable, Hashable {
        /// How long finished sagas and dead letters stay in the view (`ProjectionRetention`); nil keeps them forever.
        public var projectionRetention: Duration?

        public static let defaultProjectionRetention: Duration = .seconds(30 * 24 * 3600)

        public init(projectionRetention: Duration? = Self.defaultProjectionRetention) {
            self.projectionRetention = projectionRetention
        }
    }

    public static func migrators() throws -> [PGMigrator] {
        [try PGMigrator.load(component: name, bundle: .module)]
    }

    public static func consumers(_ context: ParticipantContext<Configuration>) throws -> [ConsumerDefinition] {
        TrackerMetrics.registerHelp()
        let timeToTerminal = Dictionary(uniqueKeysWithValues: SagaState.allCases.filter(\.isTerminal).map {
            ($0, Timer(label: TrackerMetrics.timeToTerminal, dimensions: [("state", $0.rawValue)]))
        })
        var handlers = EventHandlers()
        handlers.onBatch(OrderSagaEvents.all) { contexts, db in
            let statuses = try ProjectionStore.recordStatuses(contexts.map(\.envelope), on: db)
            var timed = Set<String>()
            for index in contexts.indices {
                let status = statuses[contexts[index].sagaID]
                contexts[index].outcome = status?.state.rawValue ?? "already recorded"
                // Once per saga and batch: the batch's last event for it ended it.
                if let status, status.newlyTerminal, let timer = timeToTerminal[status.state], let started = status.startedAt,
                   let finished = status.finishedAt, timed.insert(status.sagaID).inserted {
                    // Clamped: the dates come from events, and a crafted one must not overflow the nanoseconds.
                    let seconds = min(max(0, finished.timeIntervalSince(started)), 1e9)
                    contexts[index].onCommit { timer.recordNanoseconds(Int64(seconds * 1e9)) }
                }
            }
        }
        return [ConsumerDefinition(name: "projection", topics: OrderSagaTopics.all, handlers: handlers)]
    }

    /// The gauges of sagas by state and stuck sagas, and the view's retention.
    public static func backgroundServices(_ context: ParticipantContext<Configuration>, database: PGConfig) throws -> [any Service] {
        var services: [any Service] = [TrackerGauges(database: database, logger: context.logger, interval: .seconds(5), stuckAfter: .seconds(30))]
        if let retention = context.configuration.projectionRetention {
            services.append(ProjectionRetention(database: database, retention: retention, logger: context.logger))
        }
        return services
    }

    /// The gauges, and the projection of every service's dead letters (`DeadLetterStore`).
    public static func backgroundServices(
        _ context: ParticipantContext<Configuration>, database: PGConfig, kafka: KafkaConfiguration
    ) throws -> [any Service] {
        try backgroundServices(context, database: database)
            + [DeadLetterFollower(database: database, kafka: kafka, topics: context.topics, logger: context.logger)]
    }
}

/// Reads and writes the projection tables.
public enum ProjectionStore {
    /// Records events (once per id) and rewrites the rows of the sagas that gained an event, each from all of
    /// that saga's events: one statement that inserts and reads, and a queued upsert, however many events and sagas.
    /// Returns the new state of each saga it rewrote.
    ///
    /// An event already recorded changes nothing: whoever recorded it rewrote its saga's row in the same
    /// transaction, so a redelivered or replayed event (and the tracker's own `OrderPlaced`, which the intake
    /// records) costs no read of the saga's events and no update of its row.
    @discardableResult
    public static func record(_ envelopes: [EventEnvelope], on db: isolated PGConnection) throws -> [String: SagaState] {
        try recordStatuses(envelopes, on: db).mapValues(\.state)
    }

    /// A rewritten saga's new status, and whether this rewrite is the one that ended it.
    public struct Recorded: Sendable {
        public var sagaID: String
        public var state: SagaState
        public var startedAt: Date?
        public var finishedAt: Date?
        /// Terminal now, and no event already recorded before this batch was terminal.
        public var newlyTerminal: Bool
    }

    /// `record`, returning each rewritten saga's status.
    public static func recordStatuses(_ envelopes: [EventEnvelope], on db: isolated PGConnection) throws -> [String: Recorded] {
        guard !envelopes.isEmpty else { return [:] }
        // The events this statement inserts, plus the ones their sagas already had: the insert's own rows are
        // not visible to the statement's snapshot, so the two halves never overlap.
        let rows = try db.query("""
            WITH new AS (
              INSERT INTO saga_events (event_id, saga_id, event_type, producer, occurred_at, causation_id, payload)
              SELECT * FROM unnest(\(envelopes.map(\.eventID))::uuid[], \(envelopes.map(\.sagaID))::text[], \(envelopes.map(\.eventType))::text[],
                                   \(envelopes.map(\.producer))::text[], \(envelopes.map(\.occurredAt))::timestamptz[],
                                   \(PGArray(envelopes.map(\.causationID)))::uuid[],
                                   \(envelopes.map { String(decoding: $0.payload, as: UTF8.self) })::text[])
              ON CONFLICT (event_id) DO NOTHING
              RETURNING saga_id, event_id, event_type, producer, occurred_at, causation_id, payload
            )
            SELECT saga_id, event_id, event_type, producer, occurred_at, causation_id, \(unsafeRaw: derivedPayload) AS payload, false AS earlier FROM new
            UNION ALL
            SELECT saga_id, event_id, event_type, producer, occurred_at, causation_id, \(unsafeRaw: derivedPayload) AS payload, true AS earlier FROM saga_events
            WHERE saga_id IN (SELECT saga_id FROM new)
            """)
        var events: [String: [SagaEventRecord]] = [:]
        var earlier: [String: [SagaEventRecord]] = [:]
        var sagaIDs: [String] = []
        for row in rows {
            let sagaID: String = try row.decode("saga_id")
            if events[sagaID] == nil { sagaIDs.append(sagaID) }
            let record = try eventRecord(row)
            events[sagaID, default: []].append(record)
            if try row.decode("earlier", as: Bool.self) { earlier[sagaID, default: []].append(record) }
        }
        let statuses = sagaIDs.compactMap { SagaProjection.derive(sagaID: $0, events: events[$0]!) }
        store(statuses, on: db)
        return statuses.reduce(into: [:]) { result, status in
            // Ended by this batch: terminal now, and not already terminal on the events recorded before it.
            // (Derived again only for sagas terminal now: the few.)
            let before = status.state.isTerminal ? earlier[status.sagaID].flatMap { SagaProjection.derive(sagaID: status.sagaID, events: $0) } : nil
            result[status.sagaID] = Recorded(
                sagaID: status.sagaID, state: status.state, startedAt: status.startedAt, finishedAt: status.finishedAt,
                newlyTerminal: status.state.isTerminal && before?.state.isTerminal != true)
        }
    }

    /// Derives a saga's status from its recorded events and stores it: for the intake, when events of the saga
    /// were recorded before its order.
    @discardableResult
    public static func rederive(sagaID: String, on db: isolated PGConnection) throws -> SagaStatus? {
        let events = try db.query("""
            SELECT event_id, event_type, producer, occurred_at, causation_id, \(unsafeRaw: derivedPayload) AS payload FROM saga_events
            WHERE saga_id = \(sagaID)
            """).map(eventRecord)
        guard let status = SagaProjection.derive(sagaID: sagaID, events: events) else { return nil }
        store([status], on: db)
        return status
    }

    /// The payload column as the derivation reads it: only events whose reason a status shows need theirs, so
    /// the others' JSON is neither sent nor parsed.
    private static let derivedPayload =
        "CASE WHEN event_type IN (\(SagaProjection.reasonEventTypes.sorted().map { "'\($0)'" }.joined(separator: ", "))) THEN payload ELSE '' END"

    /// Upserts the sagas' rows (queued: nothing reads its result).
    private static func store(_ statuses: [SagaStatus], on db: isolated PGConnection) {
        guard !statuses.isEmpty else { return }
        db.queue("""
            INSERT INTO sagas (saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps,
                               compensations, error, event_count, observed_terminal_at)
            SELECT saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at,
                   string_to_array(completed_steps, ','), string_to_array(compensations, ','), error, event_count,
                   CASE WHEN finished_at IS NULL THEN NULL ELSE clock_timestamp() END
            FROM unnest(\(statuses.map(\.sagaID))::text[], \(statuses.map(\.state.rawValue))::text[],
                        \(PGArray(statuses.map(\.currentStep)))::text[], \(PGArray(statuses.map(\.waitingFor)))::text[],
                        \(PGArray(statuses.map(\.startedAt)))::timestamptz[], \(statuses.map(\.updatedAt))::timestamptz[],
                        \(PGArray(statuses.map(\.finishedAt)))::timestamptz[],
                        \(statuses.map { $0.completedSteps.joined(separator: ",") })::text[],
                        \(statuses.map { $0.compensations.joined(separator: ",") })::text[],
                        \(PGArray(statuses.map(\.error)))::text[], \(statuses.map(\.eventCount))::int[])
                 AS s(saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps,
                      compensations, error, event_count)
            ON CONFLICT (saga_id) DO UPDATE SET
                state = EXCLUDED.state, current_step = EXCLUDED.current_step, waiting_for = EXCLUDED.waiting_for,
                started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, finished_at = EXCLUDED.finished_at,
                completed_steps = EXCLUDED.completed_steps, compensations = EXCLUDED.compensations, error = EXCLUDED.error,
                event_count = EXCLUDED.event_count,
                observed_terminal_at = CASE WHEN EXCLUDED.finished_at IS NULL THEN NULL
                                            -- Resolved by an operator: retention's clock starts from the resolution.
                                            WHEN sagas.state = 'compensation_failed' AND EXCLUDED.state <> 'compensation_failed' THEN clock_timestamp()
                                            ELSE coalesce(sagas.observed_terminal_at, clock_timestamp()) END
            """)
    }

    private static func eventRecord(_ row: PGRow) throws -> SagaEventRecord {
        SagaEventRecord(
            eventID: try row.decode("event_id"), eventType: try row.decode("event_type"), producer: try row.decode("producer"),
            occurredAt: try row.decode("occurred_at"), causationID: try row.decode("causation_id"), payload: try row.decode("payload"))
    }

    public static func events(sagaID: String, on db: isolated PGConnection) throws -> [SagaEventRecord] {
        try db.query("""
            SELECT event_id, event_type, producer, occurred_at, causation_id, payload FROM saga_events WHERE saga_id = \(sagaID)
            """).map(eventRecord)
    }

    /// The status of one saga, derived afresh from its events; nil if the tracker has seen none.
    public static func status(sagaID: String, on db: PGConnection) async throws -> SagaStatus? {
        try await db.withTransaction(isolation: .repeatableRead) { tx in
            SagaProjection.derive(sagaID: sagaID, events: try events(sagaID: sagaID, on: tx))
        }
    }
}
