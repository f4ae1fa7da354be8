import Foundation
import OrderSaga
import PGClient
import SagaKit
import SagaKitService

/// The saga tracker: records every saga event from every topic and keeps one status row per saga, derived from
/// the events alone. It is also where orders start (`saga-tracker start`): the order and its `OrderPlaced` event
/// commit together in its database, and its relay publishes the event.
public enum Tracker: SagaServiceDefinition {
    public static let name = "tracker"
    public static let executableName = "saga-tracker"
    public static let databaseURLVariable = "TRACKER_DATABASE_URL"
    public static let registry = OrderSagaEvents.registry

    public static func migrators() throws -> [PGMigrator] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw PGError(code: .migration, message: "tracker migrations missing from the bundle")
        }
        return [try PGMigrator.load(component: name, directory: directory)]
    }

    public static func consumers(_ context: ServiceContext<NoOptions>) throws -> [ConsumerDefinition] {
        var handlers = EventHandlers()
        for type in OrderSagaEvents.all { register(type, in: &handlers) }
        return [ConsumerDefinition(name: "projection", topics: OrderSagaTopics.all, handlers: handlers)]
    }

    private static func register<E: SagaEvent>(_ type: E.Type, in handlers: inout EventHandlers) {
        handlers.on(type) { _, context, db in
            context.outcome = try ProjectionStore.record(context.envelope, on: db).rawValue
        }
    }
}

/// Reads and writes the projection tables.
public enum ProjectionStore {
    /// Records an event (once per id) and rewrites its saga's row from all of the saga's events.
    @discardableResult
    public static func record(_ envelope: EventEnvelope, on db: isolated PGConnection) throws -> SagaState {
        try db.query("""
            INSERT INTO saga_events (event_id, saga_id, event_type, producer, occurred_at, causation_id, payload)
            VALUES (\(envelope.eventID), \(envelope.sagaID), \(envelope.eventType), \(envelope.producer), \(envelope.occurredAt),
                    \(envelope.causationID), \(String(decoding: envelope.payload, as: UTF8.self)))
            ON CONFLICT (event_id) DO NOTHING
            """)
        let status = try rederive(sagaID: envelope.sagaID, on: db)!
        return status.state
    }

    /// Derives a saga's status from its recorded events and stores it.
    @discardableResult
    public static func rederive(sagaID: String, on db: isolated PGConnection) throws -> SagaStatus? {
        guard let status = SagaProjection.derive(sagaID: sagaID, events: try events(sagaID: sagaID, on: db)) else { return nil }
        try db.query("""
            INSERT INTO sagas (saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps,
                               compensations, error, event_count, observed_terminal_at)
            VALUES (\(sagaID), \(status.state.rawValue), \(status.currentStep), \(status.waitingFor), \(status.startedAt), \(status.updatedAt),
                    \(status.finishedAt), \(status.completedSteps)::text[], \(status.compensations)::text[], \(status.error), \(status.eventCount),
                    CASE WHEN \(status.finishedAt)::timestamptz IS NULL THEN NULL ELSE clock_timestamp() END)
            ON CONFLICT (saga_id) DO UPDATE SET
                state = EXCLUDED.state, current_step = EXCLUDED.current_step, waiting_for = EXCLUDED.waiting_for,
                started_at = EXCLUDED.started_at, updated_at = EXCLUDED.updated_at, finished_at = EXCLUDED.finished_at,
                completed_steps = EXCLUDED.completed_steps, compensations = EXCLUDED.compensations, error = EXCLUDED.error,
                event_count = EXCLUDED.event_count,
                observed_terminal_at = CASE WHEN EXCLUDED.finished_at IS NULL THEN NULL
                                            ELSE coalesce(sagas.observed_terminal_at, clock_timestamp()) END
            """)
        return status
    }

    public static func events(sagaID: String, on db: isolated PGConnection) throws -> [SagaEventRecord] {
        try db.query("""
            SELECT event_id, event_type, producer, occurred_at, causation_id, payload FROM saga_events WHERE saga_id = \(sagaID)
            """).map { row in
            SagaEventRecord(
                eventID: try row.decode("event_id"), eventType: try row.decode("event_type"), producer: try row.decode("producer"),
                occurredAt: try row.decode("occurred_at"), causationID: try row.decode("causation_id"), payload: try row.decode("payload"))
        }
    }

    /// The status of one saga, derived afresh from its events; nil if the tracker has seen none.
    public static func status(sagaID: String, on db: PGConnection) async throws -> SagaStatus? {
        try await db.withTransaction(isolation: .repeatableRead) { tx in
            SagaProjection.derive(sagaID: sagaID, events: try events(sagaID: sagaID, on: tx))
        }
    }
}
