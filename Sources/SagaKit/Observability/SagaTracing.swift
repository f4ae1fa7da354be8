import KafkaClient
import Tracing

/// Spans for sagas, through swift-distributed-tracing's API only: whatever tracer the process bootstrapped
/// (OpenTelemetry's in the services, when `OTEL_EXPORTER_OTLP_ENDPOINT` asks for it) records them. One saga is one
/// trace: the intake's span is its root, every relay publish a `producer` span whose parent is the outbox row's
/// stored `traceparent`, every consume-and-apply a `consumer` span whose parent is the message's `traceparent`
/// header, and the events a handler emits store that `process` span's context. Names and attributes follow the
/// OpenTelemetry messaging conventions (`publish <topic>`, `process <topic>`, `messaging.*`), plus `saga.*`.
///
/// With no tracer bootstrapped (`NoOpTracer`) nothing here runs: components ask `activeTracer` once, when they are
/// made, and keep generating `traceparent` values with `TraceContext`, so headers still travel.
public enum SagaTracing {
    /// Attribute names: OpenTelemetry's messaging conventions, then the saga's own.
    public enum Attribute {
        public static let messagingSystem = "messaging.system"
        public static let messagingOperation = "messaging.operation"
        public static let destination = "messaging.destination.name"
        public static let partition = "messaging.kafka.destination.partition"
        public static let offset = "messaging.kafka.message.offset"
        public static let messageKey = "messaging.kafka.message.key"
        public static let consumerGroup = "messaging.kafka.consumer.group"
        public static let messageID = "messaging.message.id"
        public static let sagaID = "saga.id"
        public static let eventType = "saga.event_type"
        public static let eventID = "saga.event_id"
        /// What became of the event: the handler's outcome word, `duplicate`, `dead_lettered`, `accepted`, ...
        public static let outcome = "saga.outcome"
        /// The compensation a handler performed (`refund_payment`, `release_inventory`).
        public static let compensation = "saga.compensation"
        /// The consuming or publishing service.
        public static let service = "saga.service"
    }

    /// The intake's span, the root of a saga's trace.
    public static let startSpanName = "start saga"

    /// The span of one relay publish of an outbox row.
    public static func publishSpanName(topic: String) -> String { "publish \(topic)" }

    /// The span of one consume-and-apply of an event.
    public static func processSpanName(topic: String) -> String { "process \(topic)" }

    /// The span of a compensation a handler performed, a child of its `process` span.
    public static func compensationSpanName(_ name: String) -> String { "compensate \(name)" }

    /// The bootstrapped tracer (or the one a `withTracer` scope binds), or nil when it is the no-op one: asked once
    /// by each component when it is made, so with tracing off a hot path pays one nil check and nothing else.
    public static var activeTracer: (any Tracer)? {
        let tracer = InstrumentationSystem.tracer
        return tracer is NoOpTracer ? nil : tracer
    }

    /// The `traceparent` the tracer writes for `context` (the span it holds): what the outbox column stores. Nil
    /// when the context holds no span or the tracer writes no W3C header (`OTEL_PROPAGATORS` without
    /// `tracecontext`).
    public static func traceparent(of context: ServiceContext, using tracer: any Tracer) -> String? {
        var column: String?
        tracer.inject(context, into: &column, using: TraceparentColumn())
        return column
    }

    /// The context an outbox row's stored `traceparent` names, to start its `publish` span under.
    public static func context(traceparent: String?, using tracer: any Tracer) -> ServiceContext {
        var context = ServiceContext.topLevel
        if traceparent != nil { tracer.extract(traceparent, into: &context, using: TraceparentColumn()) }
        return context
    }

    /// The context a message's headers carry (`traceparent`, and `tracestate` or `baggage` when the tracer reads
    /// them), to start its `process` span under.
    public static func context(headers: [KafkaHeader], using tracer: any Tracer) -> ServiceContext {
        var context = ServiceContext.topLevel
        tracer.extract(headers, into: &context, using: KafkaHeaderCarrier())
        return context
    }

    /// Writes `context` into a message's headers, replacing any header of the same name.
    public static func inject(_ context: ServiceContext, into headers: inout [KafkaHeader], using tracer: any Tracer) {
        tracer.inject(context, into: &headers, using: KafkaHeaderCarrier())
    }

    /// The saga's attributes every span about one event carries.
    static func eventAttributes(_ attributes: inout SpanAttributes, sagaID: String?, eventType: String?, eventID: String?) {
        if let sagaID { attributes[Attribute.sagaID] = sagaID }
        if let eventType { attributes[Attribute.eventType] = eventType }
        if let eventID {
            attributes[Attribute.eventID] = eventID
            attributes[Attribute.messageID] = eventID
        }
    }

    /// A wall-clock time as a tracer instant (a delivery report's acknowledgement).
    static func instant(_ seconds: Double) -> DefaultTracerClock.Timestamp {
        DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: UInt64(max(0, seconds) * 1_000_000_000))
    }
}

/// Kafka message headers as a trace carrier. Extraction reads the last header of a name (Kafka allows repeats);
/// injection replaces every header of that name, so a relayed row never carries two `traceparent`s.
public struct KafkaHeaderCarrier: Extractor, Injector {
    public typealias Carrier = [KafkaHeader]

    public init() {}

    public func extract(key: String, from carrier: [KafkaHeader]) -> String? {
        carrier.string(key)
    }

    public func inject(_ value: String, forKey key: String, into carrier: inout [KafkaHeader]) {
        carrier.removeAll { $0.name == key }
        carrier.append(KafkaHeader(name: key, string: value))
    }
}

/// The outbox's `traceparent` column as a trace carrier: it holds that one W3C header and nothing else, so other
/// keys (`tracestate`, `baggage`) are neither read nor kept.
public struct TraceparentColumn: Extractor, Injector {
    public typealias Carrier = String?

    public init() {}

    public func extract(key: String, from carrier: String?) -> String? {
        key == TraceContext.headerName ? carrier : nil
    }

    public func inject(_ value: String, forKey key: String, into carrier: inout String?) {
        if key == TraceContext.headerName { carrier = value }
    }
}
