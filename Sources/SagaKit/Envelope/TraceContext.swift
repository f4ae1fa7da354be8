/// W3C Trace Context (`traceparent`), carried in a Kafka header so one saga's hops across services form one
/// trace: each published event is a child span of the event that caused it.
public struct TraceContext: Sendable, Hashable {
    /// 32 lowercase hex digits.
    public let traceID: String
    /// 16 lowercase hex digits.
    public let spanID: String
    public let sampled: Bool

    public static let headerName = "traceparent"

    public init?(traceparent: String) {
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        // Lowercase ASCII hex only: `Character.isHexDigit` also accepts fullwidth digits and letters.
        func isLowerHex(_ part: Substring) -> Bool { part.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } }
        guard parts.count == 4, parts.allSatisfy(isLowerHex),
              parts[0].utf8.count == 2, parts[0] != "ff", parts[1].utf8.count == 32, parts[2].utf8.count == 16, parts[3].utf8.count == 2,
              parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16),
              let flags = UInt8(parts[3], radix: 16) else { return nil }
        traceID = String(parts[1])
        spanID = String(parts[2])
        sampled = flags & 1 == 1
    }

    private init(traceID: String, spanID: String, sampled: Bool) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    /// A new trace, for a saga's first event.
    public static func newRoot() -> TraceContext {
        TraceContext(traceID: randomHex(bytes: 16), spanID: randomHex(bytes: 8), sampled: true)
    }

    /// A new span in the same trace.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, spanID: Self.randomHex(bytes: 8), sampled: sampled)
    }

    public var traceparent: String { "00-\(traceID)-\(spanID)-\(sampled ? "01" : "00")" }

    private static func randomHex(bytes count: Int) -> String {
        let digits: StaticString = "0123456789abcdef"
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        var generator = SystemRandomNumberGenerator()
        var allZero = true
        // Eight random bytes per call to the system generator, not one.
        var word: UInt64 = 0
        for index in 0..<count {
            if index % 8 == 0 { word = generator.next() }
            let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
            if byte != 0 { allZero = false }
            out.append(digits.utf8Start[Int(byte >> 4)])
            out.append(digits.utf8Start[Int(byte & 0xF)])
        }
        if allZero { out[out.count - 1] = UInt8(ascii: "1") }
        return String(decoding: out, as: UTF8.self)
    }
}
