import Foundation
@testable import SagaKit
import Testbed
import Testing

@Suite("EventContext.emit")
struct EventContextTests {
    private static let parent = TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")!

    private func context(trace: TraceContext? = parent, prefix: String = "run7-") throws -> EventContext {
        let handled = try EventEnvelope(
            TestbedPing(sequence: 4), sagaID: "saga-\"é\"", causationID: UUID(), producer: "upstream"
        )
        return EventContext(
            envelope: handled, topic: "run7-testbed.pings", partition: 2, offset: 99, trace: trace, producer: "testbed",
            topics: TopicNames(prefix: prefix)
        )
    }

    @Test("an emitted event belongs to the same saga, is caused by the handled event and names this producer")
    func envelopeFields() throws {
        var context = try context()
        try context.emit(TestbedPong(sequence: 4))
        let emitted = try #require(context.emitted.first)
        #expect(context.emitted.count == 1)
        #expect(emitted.envelope.sagaID == context.envelope.sagaID)
        #expect(emitted.envelope.causationID == context.envelope.eventID)
        #expect(emitted.envelope.producer == "testbed")
        #expect(emitted.envelope.eventType == "TestbedPong")
        #expect(emitted.envelope.schemaVersion == 1)
        #expect(emitted.envelope.eventID != context.envelope.eventID)
        #expect(try EventCoding.decodePayload(TestbedPong.self, from: emitted.envelope.payload) == TestbedPong(sequence: 4))
    }

    @Test("an emitted event goes to its type's topic with the prefix")
    func prefixedTopic() throws {
        var context = try context(prefix: "run7-")
        try context.emit(TestbedPong(sequence: 1))
        #expect(context.emitted.first?.topic == "run7-testbed.pongs")
        var unprefixed = try self.context(prefix: "")
        try unprefixed.emit(TestbedPong(sequence: 1))
        #expect(unprefixed.emitted.first?.topic == "testbed.pongs")
    }

    @Test("an emitted event continues the handled event's trace in a new span")
    func childTrace() throws {
        var context = try context()
        try context.emit(TestbedPong(sequence: 1))
        let trace = try #require(context.emitted.first?.trace)
        #expect(trace.traceID == Self.parent.traceID)
        #expect(trace.spanID != Self.parent.spanID)
        #expect(trace.sampled == Self.parent.sampled)
    }

    @Test("without an incoming trace, an emitted event starts a new one")
    func rootTrace() throws {
        var context = try context(trace: nil)
        try context.emit(TestbedPong(sequence: 1))
        let trace = try #require(context.emitted.first?.trace)
        #expect(TraceContext(traceparent: trace.traceparent) == trace)
        #expect(trace.traceID != Self.parent.traceID)
    }

    @Test("several emits keep their order and get distinct ids and spans")
    func severalEmits() throws {
        var context = try context()
        try context.emit(TestbedPong(sequence: 1))
        try context.emit(TestbedPing(sequence: 2))
        try context.emit(TestbedPong(sequence: 3))
        #expect(context.emitted.map(\.envelope.eventType) == ["TestbedPong", "TestbedPing", "TestbedPong"])
        #expect(context.emitted.map(\.topic) == ["run7-testbed.pongs", "run7-testbed.pings", "run7-testbed.pongs"])
        #expect(Set(context.emitted.map(\.envelope.eventID)).count == 3)
        #expect(Set(context.emitted.compactMap(\.trace?.spanID)).count == 3)
        #expect(context.emitted.allSatisfy { $0.envelope.causationID == context.envelope.eventID })
    }

    @Test("the emitted envelope survives its own encoding")
    func emittedEncodes() throws {
        var context = try context()
        try context.emit(TestbedPong(sequence: 8))
        let emitted = try #require(context.emitted.first)
        let decoded = try EventEnvelope.decode(emitted.envelope.encoded())
        #expect(decoded.sagaID == emitted.envelope.sagaID)
        #expect(decoded.causationID == emitted.envelope.causationID)
        #expect(decoded.payload == emitted.envelope.payload)
    }

    @Test("the context exposes the handled event's saga and position")
    func exposes() throws {
        let context = try context()
        #expect(context.sagaID == "saga-\"é\"")
        #expect(context.topic == "run7-testbed.pings")
        #expect(context.partition == 2)
        #expect(context.offset == 99)
        #expect(context.emitted.isEmpty)
        #expect(context.outcome == nil)
    }
}
