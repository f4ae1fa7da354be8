import Foundation
import PGClient
import Tracing

/// What a handler knows about the event in hand, and where it puts the events it emits.
///
/// Emitted events belong to the same saga, name the handled event as their cause, continue its trace, and are
/// written to the outbox in the handler's transaction.
public struct EventContext: Sendable {
    public let envelope: EventEnvelope
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let trace: TraceContext?
    /// This service's name, stamped as the producer of emitted events.
    public let producer: String
    public let topics: TopicNames
    /// The consumer handling the event (its inbox name), where a parked compensation is filed.
    public internal(set) var consumer = ""
    public private(set) var emitted: [OutboxMessage] = []
    /// A short word for the log line ("reserved", "declined"); the emitted event types are logged anyway.
    public var outcome: String?
    /// Run after the transaction commits, never if it rolls back: for counters and other effects outside the
    /// database that must match what was committed.
    public private(set) var afterCommit: [@Sendable () -> Void] = []
    /// The compensations this handler performed (`refund_payment`), as it said with `compensating(_:)`.
    public var compensations: [String] { compensationRecords.map(\.name) }
    private(set) var compensationRecords: [Compensation] = []
    /// What emitted events store as their `traceparent` when a tracer is on: the consumer's `process` span for
    /// this event. Nil with tracing off, where each emitted event gets a new span id in the handled event's trace.
    var emitTrace: TraceContext?

    /// A compensation a handler performed, and when it said so: the start of its `compensate` span.
    struct Compensation: Sendable {
        let name: String
        let startedAt: DefaultTracerClock.Timestamp
    }

    public init(
        envelope: EventEnvelope, topic: String, partition: Int32, offset: Int64, trace: TraceContext?, producer: String,
        topics: TopicNames = TopicNames()
    ) {
        self.topics = topics
        self.envelope = envelope
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.trace = trace
        self.producer = producer
    }

    public var sagaID: String { envelope.sagaID }

    /// Runs `action` once the handler's transaction has committed (not at all if it rolls back).
    public mutating func onCommit(_ action: @escaping @Sendable () -> Void) {
        afterCommit.append(action)
    }

    /// Says that this handler compensates an earlier step (`refund_payment`, `release_inventory`), where the
    /// compensating work begins. When the transaction commits, the event's `process` span gets
    /// `saga.compensation=<name>` and a child span `compensate <name>` from this call to the commit, with the
    /// handler's outcome; its log line names the compensation. A batch that rolls back records nothing: its retry
    /// says it again.
    public mutating func compensating(_ name: String) {
        compensationRecords.append(Compensation(name: name, startedAt: DefaultTracerClock.now))
    }

    public mutating func emit<E: SagaEvent>(_ event: E) throws {
        try emit(event, causedBy: envelope.eventID)
    }

    /// What a compensation had done to the context when it began, to undo on its failure.
    struct Mark {
        let emitted: Int
        let afterCommit: Int
        let outcome: String?
    }

    var mark: Mark { Mark(emitted: emitted.count, afterCommit: afterCommit.count, outcome: outcome) }

    /// Forgets what was emitted and scheduled since `mark`: its transaction work was rolled back to a savepoint.
    mutating func rollBack(to mark: Mark) {
        emitted.removeSubrange(mark.emitted...)
        afterCommit.removeSubrange(mark.afterCommit...)
        outcome = mark.outcome
    }

    /// Emits with another event of the same saga as the cause: when the event that completes a pair is not the
    /// one that logically caused the outcome.
    public mutating func emit<E: SagaEvent>(_ event: E, causedBy causationID: UUID) throws {
        let trace = emitTrace ?? self.trace?.child() ?? TraceContext.newRoot()
        emitted.append(try OutboxMessage(
            event, sagaID: envelope.sagaID, causationID: causationID, producer: producer, trace: trace, topics: topics))
    }
}

/// A consumer's handlers, by event type. A handler runs on the database connection's thread inside the
/// consumer's transaction: its reads and writes, the inbox row and its emitted events commit together or not at
/// all. It must not block on anything but that connection.
///
/// A handler takes one event (`on`) or a run of them (`onBatch`). The consumer hands a batch handler every
/// consecutive new event of its types in the polled batch at once, in order, so it can do with a few set-based
/// statements what would otherwise cost a few statements per event: that is where a busy consumer's database
/// time goes. A batch handler must give each event the outcome it would have had alone, in that order: later
/// events see what earlier ones did (two orders for one SKU, a duplicate order id under a new event id).
///
/// Throw a `TransientError` (or let a connection or serialization error through) to have the events retried with
/// backoff; any other error fails the batch, whose events are then retried one at a time, and an event that keeps
/// failing alone goes to the dead-letter topic.
public struct EventHandlers: Sendable {
    public typealias Handler<E: SagaEvent> = @Sendable (_ event: E, _ context: inout EventContext, _ db: isolated PGConnection) throws -> Void
    /// `events[i]` goes with `contexts[i]`.
    public typealias BatchHandler<E: SagaEvent> = @Sendable (_ events: [E], _ contexts: inout [EventContext], _ db: isolated PGConnection) throws -> Void
    /// For handlers that need only the envelopes, whatever the type (a projection of every event).
    public typealias EnvelopeBatchHandler = @Sendable (_ contexts: inout [EventContext], _ db: isolated PGConnection) throws -> Void

    /// One registered handler; events that share a registration form one run.
    struct Registration: Sendable {
        let id: Int
        let run: @Sendable ([any SagaEvent], inout [EventContext], isolated PGConnection) throws -> Void
    }

    /// Runs once per batch, before its handlers, with the batch's new events in order.
    public typealias BatchPreparation = @Sendable (_ events: [any SagaEvent], _ db: isolated PGConnection) throws -> Void

    private var registrations: [String: Registration] = [:]
    private var nextID = 0
    private(set) var preparation: BatchPreparation?
    /// Domain counters: emitted event type → metric name, counted after commit.
    private(set) var emittedCounters: [String: String] = [:]
    /// Compensations declared with `compensation(_:name:failed:skipped:_:)`, by name and triggering event type:
    /// what `ParkedCompensations` runs again or skips.
    private(set) var compensations: [String: CompensationRegistration] = [:]

    public init() {}

    public mutating func on<E: SagaEvent>(_ type: E.Type, _ handler: @escaping Handler<E>) {
        register([E.eventType]) { events, contexts, db in
            for index in events.indices {
                try handler(try Self.cast(events[index], to: E.self), &contexts[index], db)
            }
        }
    }

    public mutating func onBatch<E: SagaEvent>(_ type: E.Type, _ handler: @escaping BatchHandler<E>) {
        register([E.eventType]) { events, contexts, db in
            try handler(try events.map { try Self.cast($0, to: E.self) }, &contexts, db)
        }
    }

    /// One handler for runs of any of these types, mixed.
    public mutating func onBatch(_ types: [any SagaEvent.Type], _ handler: @escaping EnvelopeBatchHandler) {
        register(types.map { $0.eventType }) { _, contexts, db in
            try handler(&contexts, db)
        }
    }

    /// Work that must cover the whole batch before any handler runs, in the batch's transaction: above all, taking
    /// the row locks every handler of the batch will need, in one order. Each handler run locking its own rows,
    /// even sorted, is not enough: the batch's transaction holds the first run's locks while the next run takes
    /// its own, and two consumers that meet in opposite orders deadlock. Not called when the batch holds only
    /// duplicates. A parked compensation's retry calls it too, with the parked event alone.
    public mutating func beforeEachBatch(_ preparation: @escaping BatchPreparation) {
        self.preparation = preparation
    }

    /// Counts each emitted event of this type in a metric of its own (`payment_refunds_total`), after its
    /// transaction commits: the domain's counters, exact under retries and rollbacks.
    public mutating func count<E: SagaEvent>(emitted type: E.Type, as metric: String, help: String) {
        emittedCounters[E.eventType] = metric
        MetricHelp.register(metric, help)
    }

    private mutating func register(
        _ eventTypes: [String], _ run: @escaping @Sendable ([any SagaEvent], inout [EventContext], isolated PGConnection) throws -> Void
    ) {
        let registration = Registration(id: nextID, run: run)
        nextID += 1
        for eventType in eventTypes { registrations[eventType] = registration }
    }

    private static func cast<E: SagaEvent>(_ event: any SagaEvent, to type: E.Type) throws -> E {
        guard let typed = event as? E else {
            throw EventValidationError("handler for \(E.eventType) got \(Swift.type(of: event))")
        }
        return typed
    }

    public var eventTypes: [String] { registrations.keys.sorted() }

    /// A declared compensation, as `ParkedCompensations.retry` runs it: after the batch preparation, given the parked
    /// event alone, so a retry takes its locks in the order the consumer's batches take theirs and cannot deadlock
    /// with them.
    func compensation(named name: String, eventType: String) -> CompensationRegistration? {
        guard var registration = compensations[Self.compensationKey(name, eventType)] else { return nil }
        if let preparation {
            let attempt = registration.attempt
            registration.attempt = { event, context, db in
                try preparation([event], db)
                try attempt(event, &context, db)
            }
        }
        return registration
    }

    private static func compensationKey(_ name: String, _ eventType: String) -> String { "\(name) \(eventType)" }

    func registration(for eventType: String) -> Registration? { registrations[eventType] }
}

// MARK: - Compensations

/// Thrown by a compensation that cannot apply and will not by being retried as it stands (a refund the provider
/// rejected, nothing left to release): the compensation is parked for an operator, not retried or dead-lettered.
public struct CompensationFailure: Error, Sendable, CustomStringConvertible {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}

/// An operator's decision not to run a parked compensation: why, and who decided.
public struct CompensationSkip: Sendable, Hashable {
    public var reason: String
    public var actor: String

    public init(reason: String, actor: String) {
        self.reason = reason
        self.actor = actor
    }
}

/// A declared compensation, runnable again outside the consumer (`ParkedCompensations.retry`, `skip`).
struct CompensationRegistration: Sendable {
    let name: String
    /// The body in a savepoint; throws `CompensationFailure` with the transaction and the context as they were.
    var attempt: @Sendable (any SagaEvent, inout EventContext, isolated PGConnection) throws -> Void
    /// Emits the event that says the operator skipped it.
    let skip: @Sendable (any SagaEvent, CompensationSkip, inout EventContext) throws -> Void
}

extension EventHandlers {
    /// Declares a compensation: `body` undoes an earlier step when `type` arrives, and throws `CompensationFailure`
    /// when it cannot. Then nothing `body` did is kept (its statements are rolled back to a savepoint, its emitted
    /// events dropped), the compensation is parked in `sagakit_parked_compensations` with the triggering event, and
    /// the event `failed` makes is emitted, all in the consumer's transaction: the parked row and the failure
    /// event commit together or not at all. An operator then retries it (`body` again, in the same way) or skips
    /// it, which emits the event `skipped` makes so the saga can go on.
    ///
    ///     handlers.compensation(ConfirmationFailed.self, name: "refund_payment",
    ///                           failed: { event, reason in PaymentRefundFailed(orderID: event.orderID, reason: reason) },
    ///                           skipped: { event, skip in PaymentRefundSkipped(orderID: event.orderID, reason: skip.reason, skippedBy: skip.actor) },
    ///                           refund)
    ///
    /// The name is the one `EventContext.compensating(_:)` records for the trace. One name may answer several
    /// event types (a release after a decline or after a refund), each declared on its own.
    public mutating func compensation<E: SagaEvent, Failed: SagaEvent, Skipped: SagaEvent>(
        _ type: E.Type, name: String,
        failed: @escaping @Sendable (_ event: E, _ reason: String) -> Failed,
        skipped: @escaping @Sendable (_ event: E, _ skip: CompensationSkip) -> Skipped,
        _ body: @escaping Handler<E>
    ) {
        let attempt: @Sendable (E, inout EventContext, isolated PGConnection) throws -> Void = { event, context, db in
            context.compensating(name)
            let mark = context.mark
            db.queue("SAVEPOINT sagakit_compensation")
            do {
                try body(event, &context, db)
            } catch let failure as CompensationFailure {
                try db.query("ROLLBACK TO SAVEPOINT sagakit_compensation")
                db.queue("RELEASE SAVEPOINT sagakit_compensation")
                context.rollBack(to: mark)
                throw failure
            }
            db.queue("RELEASE SAVEPOINT sagakit_compensation")
        }
        compensations[Self.compensationKey(name, E.eventType)] = CompensationRegistration(
            name: name,
            attempt: { event, context, db in try attempt(try Self.cast(event, to: E.self), &context, db) },
            skip: { event, skip, context in try context.emit(skipped(try Self.cast(event, to: E.self), skip)) }
        )
        on(type) { event, context, db in
            do {
                try attempt(event, &context, db)
            } catch let failure as CompensationFailure {
                ParkedCompensations.park(name, reason: failure.reason, context: context, on: db)
                try context.emit(failed(event, failure.reason))
                context.outcome = "compensation parked"
                let consumer = context.consumer
                context.onCommit { CompensationMetrics.parked.increment([consumer, name]) }
            }
        }
    }
}

/// An error worth retrying as it is: the event stays at the head of its partition and is tried again after a
/// backoff, however many times it takes.
public protocol TransientError: Error {}

extension Error {
    /// Connection loss, serialization failures, deadlocks, and anything marked `TransientError`.
    var isTransient: Bool {
        if self is any TransientError { return true }
        if let error = self as? PGError { return error.isConnectionError || error.isSerializationFailure }
        return false
    }
}
