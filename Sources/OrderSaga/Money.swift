/// An exact amount in minor units, written and read as `59.99`. Never a Double.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var cents: Int64

    public init(cents: Int64) {
        self.cents = cents
    }

    /// Reads `59.99`, `59.9`, `59`, `-5.00`: ASCII digits, at most two decimals, at most one leading `-`, nothing
    /// else (no `+`, no spaces). An amount beyond `Int64` cents is refused, never trapped on: it comes from the
    /// command line.
    public init?(parsing text: String) {
        var bytes = Array(text.utf8)
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes.removeFirst() }
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let whole = bytes[..<(dot ?? bytes.endIndex)]
        let decimals = dot.map { bytes[($0 + 1)...] } ?? []
        guard !whole.isEmpty, dot == nil || (1...2).contains(decimals.count) else { return nil }
        // `59.9` is 5990: the digits, then zeros up to two decimals.
        let zeros = [UInt8](repeating: UInt8(ascii: "0"), count: 2 - decimals.count)
        var cents: Int64 = 0
        for byte in whole + decimals + zeros {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (shifted, overflow) = cents.multipliedReportingOverflow(by: 10)
            let (sum, carry) = shifted.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow, !carry else { return nil }
            cents = sum
        }
        self.cents = negative ? -cents : cents
    }

    /// For command-line options: throws a message naming the expected form.
    public static func parse(_ text: String) throws -> Money {
        guard let money = Money(parsing: text) else { throw MoneyFormatError(text: text) }
        return money
    }

    public var description: String {
        let sign = cents < 0 ? "-" : ""
        let absolute = cents.magnitude
        let fraction = absolute % 100
        return "\(sign)\(absolute / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.cents < rhs.cents }
}

public struct MoneyFormatError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "'\(text)' is not an amount like 59.99" }
}
