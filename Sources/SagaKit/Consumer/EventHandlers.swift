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
    /// duplicates.
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

    func registration(for eventType: String) -> Registration? { registrations[eventType] }
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
