@testable import SagaKit
import Testing

@Suite("TraceContext")
struct TraceContextTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let spanID = "00f067aa0ba902b7"

    @Test("parses a valid traceparent")
    func parsesValid() throws {
        let trace = try #require(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-01"))
        #expect(trace.traceID == Self.traceID)
        #expect(trace.spanID == Self.spanID)
        #expect(trace.sampled)
        #expect(trace.traceparent == "00-\(Self.traceID)-\(Self.spanID)-01")
    }

    @Test("reads the sampled bit from the flags, ignoring the others")
    func flags() throws {
        #expect(try #require(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-00")).sampled == false)
        #expect(try #require(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-03")).sampled == true)
        #expect(try #require(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-fe")).sampled == false)
        #expect(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-00")?.traceparent == "00-\(Self.traceID)-\(Self.spanID)-00")
    }

    @Test("accepts versions other than 00 and ff")
    func otherVersions() {
        #expect(TraceContext(traceparent: "01-\(Self.traceID)-\(Self.spanID)-01") != nil)
        #expect(TraceContext(traceparent: "fe-\(Self.traceID)-\(Self.spanID)-01") != nil)
    }

    @Test("rejects invalid traceparent strings", arguments: [
        ("version ff", "ff-\(traceID)-\(spanID)-01"),
        ("all-zero trace id", "00-\(String(repeating: "0", count: 32))-\(spanID)-01"),
        ("all-zero span id", "00-\(traceID)-\(String(repeating: "0", count: 16))-01"),
        ("uppercase trace id", "00-\(traceID.uppercased())-\(spanID)-01"),
        ("uppercase span id", "00-\(traceID)-00F067AA0BA902B7-01"),
        ("uppercase version", "0A-\(traceID)-\(spanID)-01"),
        ("uppercase flags", "00-\(traceID)-\(spanID)-0A"),
        ("short trace id", "00-\(traceID.dropLast())-\(spanID)-01"),
        ("long trace id", "00-\(traceID)0-\(spanID)-01"),
        ("short span id", "00-\(traceID)-\(spanID.dropLast())-01"),
        ("long span id", "00-\(traceID)-\(spanID)0-01"),
        ("one-digit version", "0-\(traceID)-\(spanID)-01"),
        ("three-digit flags", "00-\(traceID)-\(spanID)-001"),
        ("missing flags", "00-\(traceID)-\(spanID)"),
        ("extra field", "00-\(traceID)-\(spanID)-01-00"),
        ("non-hex digit", "00-\(traceID.dropLast())g-\(spanID)-01"),
        ("underscores", "00_\(traceID)_\(spanID)_01"),
        ("empty", ""),
        ("leading space", " 00-\(traceID)-\(spanID)-01"),
    ])
    func rejectsInvalid(_ label: String, _ text: String) {
        #expect(TraceContext(traceparent: text) == nil, "\(label)")
    }

    @Test("rejects ids made of non-ASCII hex digits")
    func rejectsFullwidthHex() {
        // U+FF41 FULLWIDTH LATIN SMALL LETTER A is a Unicode hex digit, but not a traceparent one.
        let fullwidthTrace = String(repeating: "\u{FF41}", count: 32)
        #expect(TraceContext(traceparent: "00-\(fullwidthTrace)-\(Self.spanID)-01") == nil)
        let fullwidthSpan = String(repeating: "\u{FF11}", count: 16)
        #expect(TraceContext(traceparent: "00-\(Self.traceID)-\(fullwidthSpan)-01") == nil)
    }

    @Test("child() keeps the trace id and sampling and draws a new span id")
    func child() throws {
        let parent = try #require(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-01"))
        let child = parent.child()
        #expect(child.traceID == parent.traceID)
        #expect(child.sampled == parent.sampled)
        #expect(child.spanID != parent.spanID)
        #expect(TraceContext(traceparent: child.traceparent) == child)
        let unsampled = try #require(TraceContext(traceparent: "00-\(Self.traceID)-\(Self.spanID)-00"))
        #expect(unsampled.child().sampled == false)
        #expect(parent.child().spanID != parent.child().spanID)
    }

    @Test("newRoot() makes a sampled context that parses back, with a fresh trace id each time")
    func newRoot() throws {
        let a = TraceContext.newRoot()
        let b = TraceContext.newRoot()
        #expect(a.sampled)
        #expect(a.traceID.count == 32 && a.spanID.count == 16)
        #expect(TraceContext(traceparent: a.traceparent) == a)
        #expect(a.traceID != b.traceID)
        #expect(a.traceparent.hasPrefix("00-") && a.traceparent.hasSuffix("-01"))
    }
}
