/// An exact amount in minor units, written and read as `59.99`. Never a Double.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var cents: Int64

    public init(cents: Int64) {
        self.cents = cents
    }

    /// Reads `59.99`, `59.9`, `59`, `-5.00`; more than two decimals or anything else is refused.
    public init?(parsing text: String) {
        var text = Substring(text)
        var negative = false
        if text.first == "-" { negative = true; text = text.dropFirst() }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCII), let units = Int64(whole),
              units <= Int64.max / 100 else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard (1...2).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(digits) else { return nil }
            fraction = digits.count == 1 ? value * 10 : value
        }
        cents = (units * 100 + fraction) * (negative ? -1 : 1)
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
