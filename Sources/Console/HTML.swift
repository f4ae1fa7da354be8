/// A fragment of HTML. Interpolated strings are escaped unless they are `HTML` themselves, so a value from a
/// saga (an order id, a reason, an email in a payload) can only ever appear as text: escaping is what happens
/// when nobody thinks about it.
public struct HTML: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var rendered: String

    /// Markup written in code, trusted as it is.
    public init(stringLiteral value: String) {
        rendered = value
    }

    public init(stringInterpolation: Interpolation) {
        rendered = stringInterpolation.rendered
    }

    init(trusted markup: String) {
        rendered = markup
    }

    public var description: String { rendered }

    public static let empty = HTML(trusted: "")

    public struct Interpolation: StringInterpolationProtocol {
        var rendered = ""

        public init(literalCapacity: Int, interpolationCount: Int) {
            rendered.reserveCapacity(literalCapacity + interpolationCount * 16)
        }

        public mutating func appendLiteral(_ literal: String) {
            rendered += literal
        }

        /// Text: escaped for element content and for quoted attribute values alike.
        public mutating func appendInterpolation(_ text: String) {
            rendered += HTML.escape(text)
        }

        public mutating func appendInterpolation(_ text: String?) {
            rendered += HTML.escape(text ?? "")
        }

        public mutating func appendInterpolation(_ number: Int) {
            rendered += String(number)
        }

        public mutating func appendInterpolation(_ fragment: HTML) {
            rendered += fragment.rendered
        }

        public mutating func appendInterpolation(_ fragments: [HTML]) {
            for fragment in fragments { rendered += fragment.rendered }
        }
    }

    /// `&`, `<`, `>`, `"` and `'` as entities: safe inside elements and inside single- or double-quoted attributes.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    public static func + (lhs: HTML, rhs: HTML) -> HTML {
        HTML(trusted: lhs.rendered + rhs.rendered)
    }
}

extension Array where Element == HTML {
    func joined() -> HTML {
        HTML(trusted: map(\.rendered).joined())
    }
}

/// A URL path segment or query value, percent-encoded: what goes into an `href` besides being HTML-escaped.
enum URLComponent {
    static func encode(_ text: String) -> String {
        let allowed = CharacterSetASCII.unreserved
        return text.utf8.map { byte in
            allowed.contains(byte) ? String(UnicodeScalar(byte)) : "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }.joined()
    }
}

/// RFC 3986's unreserved characters, as bytes.
enum CharacterSetASCII {
    static let unreserved: Set<UInt8> = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
