import Foundation
import PGClient

/// A compensation that failed for good, as `sagakit_parked_compensations` keeps it (its triggering envelope aside).
public struct ParkedCompensation: Sendable, Hashable, Codable {
    public var id: Int64
    public var consumer: String
    public var compensation: String
    public var sagaID: String
    public var eventID: UUID
    public var eventType: String
    public var topic: String
    /// The last failure's reason.
    public var reason: String
    public var attempts: Int
    public var parkedAt: Date
    public var lastAttemptAt: Date
    /// `parked`, `retried` or `skipped`.
    public var status: String
    public var resolvedAt: Date?
    public var resolvedBy: String?
    /// A skip's reason, in the operator's words.
    public var resolution: String?

    enum CodingKeys: String, CodingKey {
        case id, consumer, compensation, sagaID = "saga_id", eventID = "event_id", eventType = "event_type", topic, reason, attempts
        case parkedAt = "parked_at", lastAttemptAt = "last_attempt_at", status, resolvedAt = "resolved_at", resolvedBy = "resolved_by"
        case resolution
    }
}

/// What a retry or a skip did.
public struct CompensationResolution: Sendable, Hashable, Codable {
    public var id: Int64
    public var sagaID: String
    public var compensation: String
    /// `retried`, `skipped`, or `failed` (a retry that failed again: still parked).
    public var outcome: String
    /// The event types appended to the outbox.
    public var emitted: [String]
    /// Why a retry failed again, or why the operator skipped.
    public var reason: String?
    public var attempts: Int

    public var succeeded: Bool { outcome != "failed" }

    enum CodingKeys: String, CodingKey {
        case id, sagaID = "saga_id", compensation, outcome, emitted, reason, attempts
    }
}

/// What a participant already has that running its compensations again needs: its name (the producer of what
/// they emit), its registry (to read the parked envelope), its consumers' handlers and its topic names.
public struct CompensationHandlers: Sendable {
    public var producer: String
    public var registry: EventRegistry
    public var consumers: [ConsumerDefinition]
    public var topics: TopicNames

    public init(producer: String, registry: EventRegistry, consumers: [ConsumerDefinition], topics: TopicNames) {
        self.producer = producer
        self.registry = registry
        self.consumers = consumers
        self.topics = topics
    }

    /// A participant's, built from its configuration as `run` builds its consumers.
    public init<Participant: SagaParticipant>(_ participant: Participant.Type, context: ParticipantContext<Participant.Configuration>) throws {
        self.init(producer: Participant.name, registry: Participant.registry, consumers: try Participant.consumers(context), topics: context.topics)
    }
}

/// Why a retry or skip could not start: exit 1 for the command line, a 404 or 409 for a console.
public struct ParkedCompensationError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `repeatedRequest`: the request's id is in the audit log, so it was acted on before (nothing done now).
        case notFound, alreadyResolved, repeatedRequest, noHandler, invalid
    }

    public let kind: Kind
    public let description: String
}

/// Parked compensations: filed by `EventHandlers.compensation` when one fails for good, listed, and resolved by
/// an operator, who runs it again (`retry`) or decides it will not happen (`skip`). Each resolution commits in one
/// transaction with what it emits and its `sagakit_audit_log` row, so the row, the events and the trail agree.
/// Public, for the command line and for a console that calls the same functions.
public enum ParkedCompensations {
    /// Files a failed compensation in the consumer's transaction; a redelivery of the same event files nothing new.
    static func park(_ name: String, reason: String, context: EventContext, on tx: isolated PGConnection) {
        let envelope = context.envelope
        tx.queue("""
            INSERT INTO sagakit_parked_compensations (consumer, compensation, saga_id, event_id, event_type, topic, envelope, reason)
            VALUES (\(context.consumer), \(name), \(envelope.sagaID), \(envelope.eventID), \(envelope.eventType), \(context.topic),
                    \(String(decoding: envelope.encoded(), as: UTF8.self)), \(reason))
            ON CONFLICT (consumer, compensation, event_id) DO NOTHING
            """)
    }

    private static let columns = """
        id, consumer, compensation, saga_id, event_id, event_type, topic, reason, attempts, parked_at, last_attempt_at, status,
        resolved_at, resolved_by, resolution
        """

    /// Parked ones, oldest first, of one saga or all; with `includeResolved`, the retried and skipped ones too.
    public static func list(
        includeResolved: Bool = false, sagaID: String? = nil, limit: Int = 1000, on db: PGConnection
    ) async throws -> [ParkedCompensation] {
        try await db.query("""
            SELECT \(unsafeRaw: columns) FROM sagakit_parked_compensations
            WHERE (\(includeResolved)::boolean OR status = 'parked') AND (\(sagaID)::text IS NULL OR saga_id = \(sagaID))
            ORDER BY id LIMIT \(limit)
            """).map { try decode($0) }
    }

    public static func parkedCount(on db: PGConnection) async throws -> Int {
        try await db.query("SELECT count(*) AS n FROM sagakit_parked_compensations WHERE status = 'parked'")[0].decode("n")
    }

    /// The compensations an operator skipped for these sagas, as (saga id, compensation name): what saga-check
    /// accepts as the operator's decision.
    public static func skipped(sagaIDs: [String], on db: PGConnection) async throws -> [(sagaID: String, compensation: String)] {
        try await db.query("""
            SELECT DISTINCT saga_id, compensation FROM sagakit_parked_compensations
            WHERE saga_id = ANY(\(sagaIDs)::text[]) AND status = 'skipped'
            """).map { row in (sagaID: try row.decode("saga_id", as: String.self), compensation: try row.decode("compensation", as: String.self)) }
    }

    /// Runs parked compensation `id` again, now, with `handlers`. In one transaction: on success what it emits goes
    /// to the outbox, the row becomes `retried` and the audit log says so; when it fails again the row stays
    /// parked with one more attempt and the new reason, the audit log records the failure, and the outcome is
    /// `failed`. Throws `ParkedCompensationError` when there is nothing to retry. `requestID` (a console's
    /// request, say) makes a request that arrives twice act once (`repeatedRequest`); a retry that failed again
    /// keeps no request id, so the same request can be sent again once the cause is fixed.
    public static func retry(
        id: Int64, actor: String, requestID: String? = nil, handlers: CompensationHandlers, on db: PGConnection
    ) async throws -> CompensationResolution {
        try await db.withTransaction { tx in
            let (found, event, registration, loaded) = try load(id, handlers, requestID: requestID, tx)
            var (parked, context) = (found, loaded)
            let detail = ["compensation": parked.compensation, "consumer": parked.consumer, "event_id": parked.eventID.uuidString.lowercased()]
            do {
                try registration.attempt(event, &context, tx)
            } catch let failure as CompensationFailure {
                tx.queue("""
                    UPDATE sagakit_parked_compensations SET attempts = attempts + 1, reason = \(failure.reason), last_attempt_at = clock_timestamp()
                    WHERE id = \(id)
                    """)
                try AuditLog.record(actor: actor, action: AuditLog.Action.retryCompensation, target: target(id), sagaID: parked.sagaID, reason: nil,
                                    outcome: "failed: \(failure.reason)", detail: detail, requestID: nil, on: tx)
                return CompensationResolution(id: id, sagaID: parked.sagaID, compensation: parked.compensation, outcome: "failed", emitted: [],
                                              reason: failure.reason, attempts: parked.attempts + 1)
            }
            parked.attempts += 1
            return try resolve(parked, as: "retried", resolution: nil, actor: actor, action: AuditLog.Action.retryCompensation,
                               emitted: context.emitted, detail: detail, requestID: requestID, on: tx)
        }
    }

    /// Records the operator's decision that parked compensation `id` will not run: emits the compensation's
    /// `skipped` event (so the saga goes on, the compensations before it in reverse order too), marks the row
    /// `skipped` with the reason, and writes the audit row, in one transaction. `reason` is required.
    public static func skip(
        id: Int64, reason: String, actor: String, requestID: String? = nil, handlers: CompensationHandlers, on db: PGConnection
    ) async throws -> CompensationResolution {
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ParkedCompensationError(kind: .invalid, description: "a skip needs a reason") }
        return try await db.withTransaction { tx in
            let (parked, event, registration, loaded) = try load(id, handlers, requestID: requestID, tx)
            var context = loaded
            try registration.skip(event, CompensationSkip(reason: trimmed, actor: actor), &context)
            return try resolve(parked, as: "skipped", resolution: trimmed, actor: actor, action: AuditLog.Action.skipCompensation,
                               emitted: context.emitted, detail: ["compensation": parked.compensation, "consumer": parked.consumer], requestID: requestID,
                               on: tx)
        }
    }

    private static func target(_ id: Int64) -> String { "parked_compensation:\(id)" }

    /// Locks row `id` while it is parked, and rebuilds what its consumer had: the event, the compensation, a context.
    private static func load(
        _ id: Int64, _ handlers: CompensationHandlers, requestID: String?, _ tx: isolated PGConnection
    ) throws -> (ParkedCompensation, any SagaEvent, CompensationRegistration, EventContext) {
        guard let row = try tx.query("SELECT \(unsafeRaw: columns), envelope FROM sagakit_parked_compensations WHERE id = \(id) FOR UPDATE").first else {
            throw ParkedCompensationError(kind: .notFound, description: "no parked compensation \(id)")
        }
        // After the row lock: the same request sent twice at once waits here for the first, then finds its audit row.
        if let requestID, try AuditLog.hasRequest(requestID, on: tx) {
            throw ParkedCompensationError(kind: .repeatedRequest, description: "request \(requestID) was already acted on")
        }
        let parked = try decode(row)
        guard parked.status == "parked" else {
            throw ParkedCompensationError(
                kind: .alreadyResolved,
                description: "compensation \(id) (\(parked.compensation) for saga \(parked.sagaID)) was already \(parked.status) by \(parked.resolvedBy ?? "?")")
        }
        let envelope = try EventEnvelope.decode(Array(try row.decode("envelope", as: String.self).utf8))
        let event = try handlers.registry.decode(envelope)
        guard let registration = handlers.consumers.first(where: { $0.name == parked.consumer })?
            .handlers.compensation(named: parked.compensation, eventType: envelope.eventType) else {
            throw ParkedCompensationError(
                kind: .noHandler,
                description: "\(handlers.producer) declares no compensation \(parked.compensation) for \(envelope.eventType) in consumer \(parked.consumer)")
        }
        var context = EventContext(envelope: envelope, topic: parked.topic, partition: -1, offset: -1, trace: nil, producer: handlers.producer,
                                   topics: handlers.topics)
        context.consumer = parked.consumer
        return (parked, event, registration, context)
    }

    private static func resolve(
        _ parked: ParkedCompensation, as status: String, resolution: String?, actor: String, action: String, emitted: [OutboxMessage],
        detail: [String: String], requestID: String?, on tx: isolated PGConnection
    ) throws -> CompensationResolution {
        try Outbox.append(emitted, notify: true, on: tx)
        tx.queue("""
            UPDATE sagakit_parked_compensations
            SET status = \(status), attempts = \(parked.attempts), resolved_at = clock_timestamp(), resolved_by = \(actor),
                resolution = \(resolution), last_attempt_at = CASE WHEN \(status == "retried")::boolean THEN clock_timestamp() ELSE last_attempt_at END
            WHERE id = \(parked.id)
            """)
        let types = emitted.map(\.envelope.eventType)
        var detail = detail
        detail["emitted"] = types.joined(separator: ",")
        try AuditLog.record(actor: actor, action: action, target: target(parked.id), sagaID: parked.sagaID, reason: resolution, outcome: "done",
                            detail: detail, requestID: requestID, on: tx)
        return CompensationResolution(id: parked.id, sagaID: parked.sagaID, compensation: parked.compensation, outcome: status, emitted: types,
                                      reason: resolution, attempts: parked.attempts)
    }

    private static func decode(_ row: PGRow) throws -> ParkedCompensation {
        ParkedCompensation(
            id: try row.decode("id"), consumer: try row.decode("consumer"), compensation: try row.decode("compensation"),
            sagaID: try row.decode("saga_id"), eventID: try row.decode("event_id"), eventType: try row.decode("event_type"),
            topic: try row.decode("topic"), reason: try row.decode("reason"), attempts: try row.decode("attempts"),
            parkedAt: try row.decode("parked_at"), lastAttemptAt: try row.decode("last_attempt_at"), status: try row.decode("status"),
            resolvedAt: try row.decode("resolved_at"), resolvedBy: try row.decode("resolved_by"), resolution: try row.decode("resolution"))
    }
}
