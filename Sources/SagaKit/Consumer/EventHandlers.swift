import Foundation
import PGClient

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

    public mutating func emit<E: SagaEvent>(_ event: E) throws {
        try emit(event, causedBy: envelope.eventID)
    }

    /// Emits with another event of the same saga as the cause: when the event that completes a pair is not the
    /// one that logically caused the outcome.
    public mutating func emit<E: SagaEvent>(_ event: E, causedBy causationID: UUID) throws {
        let trace = self.trace?.child() ?? TraceContext.newRoot()
        emitted.append(try OutboxMessage(
            event, sagaID: envelope.sagaID, causationID: causationID, producer: producer, trace: trace, topics: topics))
    }
}

/// A consumer's handlers, by event type. A handler runs on the database connection's thread inside the
/// consumer's transaction: its reads and writes, the inbox row and its emitted events commit together or not at
/// all. It must not block on anything but that connection.
///
/// Throw a `TransientError` (or let a connection or serialization error through) to have the event retried with
/// backoff; any other error is retried a few times and then sends the event to the dead-letter topic.
public struct EventHandlers: Sendable {
    public typealias Handler<E: SagaEvent> = @Sendable (_ event: E, _ context: inout EventContext, _ db: isolated PGConnection) throws -> Void
    typealias AnyHandler = @Sendable (any SagaEvent, inout EventContext, isolated PGConnection) throws -> Void

    private var handlers: [String: AnyHandler] = [:]

    public init() {}

    public mutating func on<E: SagaEvent>(_ type: E.Type, _ handler: @escaping Handler<E>) {
        handlers[E.eventType] = { event, context, db in
            guard let typed = event as? E else {
                throw EventValidationError("handler for \(E.eventType) got \(Swift.type(of: event))")
            }
            try handler(typed, &context, db)
        }
    }

    public var eventTypes: [String] { handlers.keys.sorted() }

    func handler(for eventType: String) -> AnyHandler? { handlers[eventType] }
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
