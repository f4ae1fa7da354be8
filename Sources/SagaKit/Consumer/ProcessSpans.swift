import Foundation
import KafkaClient
import Tracing

/// The `process` spans of one attempt at a polled batch, when a tracer is on: one per message that is an event or
/// is dead-lettered (an ignored message gets none), each a `consumer` span whose parent is the context its
/// `traceparent` header names. They start when the attempt starts and end when its transaction commits, with the
/// event's outcome; or with an error status when the attempt rolls back, is retried, or dead-letters the message.
/// A batch that is retried one event at a time gets new spans for each attempt: each one is an attempt that
/// happened.
struct ProcessSpans {
    private let tracer: any Tracer
    private let groupID: String
    private let startedAt = DefaultTracerClock.now
    /// The spans still open, by the message's position in the batch.
    private var open: [Int: (span: any Span, sagaID: String?)] = [:]
    /// Each span's context as a `traceparent`: what the events it emits store, and the trace its log lines name.
    private var traces: [Int: TraceContext] = [:]

    init(tracer: any Tracer, groupID: String) {
        self.tracer = tracer
        self.groupID = groupID
    }

    /// Starts the span of the message at `index`; `envelope` is nil for a message that is no valid event (its
    /// saga, type and id then come from the key and headers, when present).
    mutating func start(_ index: Int, message: KafkaMessage, envelope: EventEnvelope?) {
        let parent = SagaTracing.context(headers: message.headers, using: tracer)
        let span = tracer.startSpan(SagaTracing.processSpanName(topic: message.topic), context: parent, ofKind: .consumer, at: startedAt)
        let sagaID = envelope?.sagaID ?? message.keyString
        let groupID = self.groupID
        span.updateAttributes { attributes in
            attributes[SagaTracing.Attribute.messagingSystem] = "kafka"
            attributes[SagaTracing.Attribute.messagingOperation] = "process"
            attributes[SagaTracing.Attribute.destination] = message.topic
            attributes[SagaTracing.Attribute.partition] = Int(message.partition)
            attributes[SagaTracing.Attribute.offset] = Int(message.offset)
            attributes[SagaTracing.Attribute.consumerGroup] = groupID
            if let key = message.keyString { attributes[SagaTracing.Attribute.messageKey] = key }
            SagaTracing.eventAttributes(
                &attributes, sagaID: sagaID, eventType: envelope?.eventType ?? message.headers.string(Outbox.eventTypeHeader),
                eventID: envelope.map { $0.eventID.uuidString.lowercased() } ?? message.headers.string(Outbox.eventIDHeader))
        }
        open[index] = (span, sagaID)
        if let trace = SagaTracing.traceparent(of: span.context, using: tracer).flatMap(TraceContext.init(traceparent:)) {
            traces[index] = trace
        }
    }

    /// The `traceparent` of the span of the message at `index`.
    func trace(_ index: Int) -> TraceContext? { traces[index] }

    /// Ends the span of an event whose transaction committed, with its outcome, and a `compensate` child span per
    /// compensation its handler performed, from when it said so to the commit.
    mutating func committed(_ index: Int, outcome: String, compensations: [EventContext.Compensation], at end: DefaultTracerClock.Timestamp) {
        guard let entry = open.removeValue(forKey: index) else { return }
        let (span, sagaID) = entry
        span.attributes[SagaTracing.Attribute.outcome] = outcome
        if !compensations.isEmpty {
            span.attributes[SagaTracing.Attribute.compensation] = compensations.map(\.name).joined(separator: ",")
            for compensation in compensations {
                let child = tracer.startSpan(
                    SagaTracing.compensationSpanName(compensation.name), context: span.context, ofKind: .internal, at: compensation.startedAt)
                child.updateAttributes { attributes in
                    if let sagaID { attributes[SagaTracing.Attribute.sagaID] = sagaID }
                    attributes[SagaTracing.Attribute.compensation] = compensation.name
                    attributes[SagaTracing.Attribute.outcome] = outcome
                }
                child.end(at: end)
            }
        }
        span.end(at: end)
    }

    /// Ends the span of the message at `index` with an error status: dead-lettered, or failed.
    mutating func failed(_ index: Int, outcome: String, reason: String) {
        guard let span = open.removeValue(forKey: index)?.span else { return }
        span.attributes[SagaTracing.Attribute.outcome] = outcome
        span.setStatus(SpanStatus(code: .error, message: reason))
        span.end()
    }

    /// Ends every span still open with an error status: the attempt rolled back or will be retried.
    mutating func failAll(outcome: String, reason: String) {
        for index in open.keys.sorted() { failed(index, outcome: outcome, reason: reason) }
    }
}
