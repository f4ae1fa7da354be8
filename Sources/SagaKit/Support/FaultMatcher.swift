import Foundation

/// Which sagas a participant's fault option applies to, by order (saga) id: for demos and tests, which need a
/// declined payment or a failed confirmation on purpose. The failure is a setting of the participant, like
/// `SAGAKIT_CRASH_POINTS`, never a member of an event or a column of a table.
///
///     PAYMENT_DECLINE_ORDERS="ORD-2003,*-decline-*"
///
/// A comma-separated list of globs, each matching the whole id. `*` matches any run of characters (none too);
/// every other character matches itself. Blanks around an entry and empty entries are ignored, so an empty
/// setting matches nothing and changes no behaviour. `?`, `[`, `]` and `\` are refused rather than taken
/// literally (a reader of `ORD-200?` would expect a wildcard), as are control characters and spaces inside an
/// entry, and an entry longer than an id can be (128 bytes) without a `*`.
public struct FaultMatcher: Sendable, Hashable, CustomStringConvertible {
    /// The globs, as given (trimmed).
    public let patterns: [String]

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Matches nothing.
    public static let none = FaultMatcher(patterns: [])

    private init(patterns: [String]) {
        self.patterns = patterns
    }

    public init(parsing text: String) throws(ParseError) {
        var patterns: [String] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty { continue }
            if let bad = entry.unicodeScalars.first(where: { "?[]\\".unicodeScalars.contains($0) }) {
                throw ParseError(description: "pattern \(entry.debugDescription): '\(bad)' is not supported (only '*' is a wildcard)")
            }
            if entry.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.isWhitespace }) {
                throw ParseError(description: "pattern \(entry.debugDescription) contains a space or a control character")
            }
            if !entry.contains("*") && entry.utf8.count > 128 {
                throw ParseError(description: "pattern \(String(entry.prefix(20)).debugDescription)... is longer than an order id can be (128 bytes) and has no '*'")
            }
            patterns.append(entry)
        }
        self.patterns = patterns
    }

    public var isEmpty: Bool { patterns.isEmpty }

    public var description: String { patterns.isEmpty ? "none" : patterns.joined(separator: ",") }

    /// Whether any pattern matches the whole id.
    public func matches(_ id: String) -> Bool {
        guard !patterns.isEmpty else { return false }
        let subject = Array(id.utf8)
        return patterns.contains { Self.glob(Array($0.utf8), subject) }
    }

    /// `*` against bytes (it is ASCII, so it never splits a character that others match whole): the classic
    /// backtracking to the last star, linear in practice.
    static func glob(_ pattern: [UInt8], _ subject: [UInt8]) -> Bool {
        let star = UInt8(ascii: "*")
        var p = 0, s = 0
        var lastStar: Int? = nil, resume = 0
        while s < subject.count {
            if p < pattern.count && pattern[p] == star {
                lastStar = p
                resume = s
                p += 1
            } else if p < pattern.count && pattern[p] == subject[s] {
                p += 1
                s += 1
            } else if let star = lastStar {
                p = star + 1
                resume += 1
                s = resume
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == star { p += 1 }
        return p == pattern.count
    }
}
