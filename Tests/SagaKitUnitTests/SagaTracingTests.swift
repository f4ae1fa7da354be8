import Foundation
import InMemoryTracing
import KafkaClient
@testable import SagaKit
import Testbed
import Testing
import Tracing

/// The trace carriers (Kafka headers, the outbox's `traceparent` column) and the spans SagaKit makes from them,
/// with a tracer that speaks W3C `traceparent` as OpenTelemetry's does. No broker, no database.
@Suite("SagaTracing")
struct SagaTracingTests {
    static let stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    // MARK: - Carriers

    @Test("Kafka headers: extraction reads the last header of a name, injection replaces every header of it")
    func headerCarrier() {
        let carrier = KafkaHeaderCarrier()
        var headers = [
            KafkaHeader(name: "traceparent", string: "first"),
            KafkaHeader(name: Outbox.eventTypeHeader, string: "OrderPlaced"),
            KafkaHeader(name: "traceparent", string: "second"),
        ]
        #expect(carrier.extract(key: "traceparent", from: headers) == "second")
        #expect(carrier.extract(key: "tracestate", from: headers) == nil)
        carrier.inject("third", forKey: "traceparent", into: &headers)
        #expect(headers.map(\.name) == [Outbox.eventTypeHeader, "traceparent"])
        #expect(headers.string("traceparent") == "third")
        carrier.inject("vendor=1", forKey: "tracestate", into: &headers)
        #expect(headers.map(\.name) == [Outbox.eventTypeHeader, "traceparent", "tracestate"])
    }

    @Test("the outbox column holds traceparent and nothing else")
    func columnCarrier() {
        let column = TraceparentColumn()
        var value: String?
        #expect(column.extract(key: "traceparent", from: value) == nil)
        column.inject("vendor=1", forKey: "tracestate", into: &value)
        #expect(value == nil)
        column.inject(Self.stored, forKey: "traceparent", into: &value)
        #expect(value == Self.stored)
        #expect(column.extract(key: "traceparent", from: value) == Self.stored)
        #expect(column.extract(key: "tracestate", from: value) == nil)
    }

    // MARK: - The tracer

    @Test("no tracer bootstrapped means no tracer for SagaKit: the no-op one is not used")
    func noOpIsNone() {
        #expect(SagaTracing.activeTracer == nil)
        withTracer(W3CTestTracer()) {
            #expect(SagaTracing.activeTracer is W3CTestTracer)
        }
    }

    @Test("a stored traceparent is the parent of the span started under it, and a span's context is what is stored")
    func columnRoundTrip() throws {
        let tracer = W3CTestTracer()
        let root = tracer.startSpan("start saga", context: .topLevel)
        let stored = try #require(SagaTracing.traceparent(of: root.context, using: tracer))
        #expect(stored == "00-\(root.traceID)-\(root.spanID)-01")
        let publish = tracer.startSpan("publish orders", context: SagaTracing.context(traceparent: stored, using: tracer), ofKind: .producer)
        #expect(publish.traceID == root.traceID)
        #expect(publish.parentSpanID == root.spanID)
        // A row without one starts a new trace.
        let orphan = tracer.startSpan("publish orders", context: SagaTracing.context(traceparent: nil, using: tracer), ofKind: .producer)
        #expect(orphan.parentSpanID == nil && orphan.traceID != root.traceID)
    }

    @Test("a publish span's context replaces the stored traceparent in the message, and the consumer's span is its child")
    func headerRoundTrip() throws {
        let tracer = W3CTestTracer()
        let publish = tracer.startSpan("publish orders", context: SagaTracing.context(traceparent: Self.stored, using: tracer), ofKind: .producer)
        var headers = [KafkaHeader(name: TraceContext.headerName, string: Self.stored)]
        SagaTracing.inject(publish.context, into: &headers, using: tracer)
        #expect(headers.filter { $0.name == TraceContext.headerName }.count == 1)
        #expect(headers.string(TraceContext.headerName) == "00-\(publish.traceID)-\(publish.spanID)-01")
        let process = tracer.startSpan("process orders", context: SagaTracing.context(headers: headers, using: tracer), ofKind: .consumer)
        #expect(process.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(process.parentSpanID == publish.spanID)
    }

    // MARK: - The consumer's spans

    private static func message(headers: [KafkaHeader]) throws -> (KafkaMessage, EventEnvelope) {
        let envelope = try EventEnvelope(TestbedPing(sequence: 1), sagaID: "ORD-7", causationID: nil, producer: "upstream")
        let message = KafkaMessage(
            topic: "run1-testbed.pings", partition: 2, offset: 41, key: Array("ORD-7".utf8), value: envelope.encoded(), headers: headers)
        return (message, envelope)
    }

    @Test("a process span per event: consumer kind, child of the header's span, the saga's attributes, a compensate child")
    func processSpans() throws {
        let tracer = W3CTestTracer()
        let (message, envelope) = try Self.message(headers: [KafkaHeader(name: TraceContext.headerName, string: Self.stored)])
        var spans = ProcessSpans(tracer: tracer, groupID: "sagakit.payment.saga")
        spans.start(0, message: message, envelope: envelope)
        let trace = try #require(spans.trace(0))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")

        // What the consumer hands the handler: emitted events store the process span's context itself.
        var context = EventContext(
            envelope: envelope, topic: message.topic, partition: message.partition, offset: message.offset,
            trace: TraceContext(traceparent: Self.stored), producer: "payment")
        context.emitTrace = trace
        context.compensating("refund_payment")
        try context.emit(TestbedPong(sequence: 1))
        #expect(context.emitted.first?.trace == trace)
        #expect(context.compensations == ["refund_payment"])

        spans.committed(0, outcome: "refunded", compensations: context.compensationRecords, at: DefaultTracerClock.now)
        let finished = tracer.inner.finishedSpans
        let process = try #require(finished.first { $0.operationName == "process run1-testbed.pings" })
        #expect(process.kind == .consumer)
        #expect(process.parentSpanID == "00f067aa0ba902b7")
        #expect(process.spanID == trace.spanID)
        #expect(process.attributes.get("saga.id") == .string("ORD-7"))
        #expect(process.attributes.get("saga.event_type") == .string("TestbedPing"))
        #expect(process.attributes.get("saga.event_id") == .string(envelope.eventID.uuidString.lowercased()))
        #expect(process.attributes.get("messaging.system") == .string("kafka"))
        #expect(process.attributes.get("messaging.destination.name") == .string("run1-testbed.pings"))
        #expect(process.attributes.get("messaging.kafka.destination.partition") == .int64(2))
        #expect(process.attributes.get("messaging.kafka.message.offset") == .int64(41))
        #expect(process.attributes.get("saga.outcome") == .string("refunded"))
        #expect(process.attributes.get("saga.compensation") == .string("refund_payment"))
        let compensation = try #require(finished.first { $0.operationName == "compensate refund_payment" })
        #expect(compensation.parentSpanID == process.spanID && compensation.traceID == process.traceID)
        #expect(compensation.attributes.get("saga.id") == .string("ORD-7"))
        #expect(process.status == nil)
    }

    @Test("a failed attempt ends its spans with an error status, each once")
    func failedSpans() throws {
        let tracer = W3CTestTracer()
        let (message, envelope) = try Self.message(headers: [])
        var spans = ProcessSpans(tracer: tracer, groupID: "g")
        spans.start(0, message: message, envelope: envelope)
        spans.start(1, message: message, envelope: nil)
        spans.failed(1, outcome: "dead_lettered", reason: "invalid envelope")
        spans.failAll(outcome: "retried", reason: "transaction failed")
        spans.failAll(outcome: "retried", reason: "again")
        let finished = tracer.inner.finishedSpans
        #expect(finished.count == 2)
        #expect(finished.allSatisfy { $0.status?.code == .error && $0.parentSpanID == nil })
        let outcomes = finished.compactMap { span -> String? in
            if case .string(let outcome)? = span.attributes.get("saga.outcome") { return outcome }
            return nil
        }
        #expect(Set(outcomes) == ["dead_lettered", "retried"])
        // Without a valid envelope the saga comes from the key.
        #expect(finished.allSatisfy { $0.attributes.get("saga.id") == .string("ORD-7") })
    }
}

/// InMemoryTracer's spans, propagated as W3C `traceparent` like OpenTelemetry's tracer does (InMemoryTracer's own
/// propagation uses keys of its own, which the outbox column does not hold).
struct W3CTestTracer: Tracer {
    let inner = InMemoryTracer(idGenerator: .init(nextTraceID: { Self.hex(16) }, nextSpanID: { Self.hex(8) }))

    static func hex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 1...255)) }.joined()
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind, at instant: @autoclosure () -> Instant,
        function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        inner.startSpan(operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject) where Inject.Carrier == Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: TraceContext.headerName, into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract) where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: TraceContext.headerName, from: carrier), let trace = TraceContext(traceparent: value) else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: trace.traceID, spanID: trace.spanID, parentSpanID: nil)
    }
}
