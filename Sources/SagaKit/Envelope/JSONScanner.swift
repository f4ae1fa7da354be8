/// A strict JSON reader for one object: it checks the whole text (RFC 8259) and returns each top-level member
/// either as a decoded scalar or as the raw bytes of a nested value.
///
/// It lets the consumer validate an envelope and hand the payload's bytes to `JSONDecoder` without parsing the
/// document twice, and lets the relay publish stored bytes unchanged.
struct JSONScanner {
    enum Value: Equatable {
        case string(String)
        case number(String)
        case bool(Bool)
        case null
        case object(Range<Int>)
        case array(Range<Int>)

        var kind: String {
            switch self {
            case .string: "a string"
            case .number: "a number"
            case .bool: "a boolean"
            case .null: "null"
            case .object: "an object"
            case .array: "an array"
            }
        }
    }

    struct Failure: Error, Equatable {
        let message: String
    }

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The members of the top-level object, in order; a repeated member name is an error.
    static func objectMembers(_ bytes: [UInt8]) throws(Failure) -> [(String, Value)] {
        var scanner = JSONScanner(bytes)
        scanner.skipWhitespace()
        guard scanner.peek() == UInt8(ascii: "{") else { throw Failure(message: "not a JSON object") }
        let members = try scanner.members()
        scanner.skipWhitespace()
        guard scanner.i == bytes.count else { throw Failure(message: "trailing characters after the JSON object") }
        return members
    }

    /// Whether the bytes are exactly one valid JSON value.
    static func isValidJSON(_ bytes: [UInt8]) -> Bool {
        var scanner = JSONScanner(bytes)
        do {
            scanner.skipWhitespace()
            _ = try scanner.value(depth: 0)
            scanner.skipWhitespace()
            return scanner.i == bytes.count
        } catch {
            return false
        }
    }

    private func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func expect(_ c: UInt8) throws(Failure) {
        guard peek() == c else { throw Failure(message: "expected '\(Character(Unicode.Scalar(c)))' at byte \(i)") }
        i += 1
    }

    private mutating func members() throws(Failure) -> [(String, Value)] {
        try expect(UInt8(ascii: "{"))
        var result: [(String, Value)] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { i += 1; return result }
        while true {
            skipWhitespace()
            let name = try memberName(notIn: &seen)
            result.append((name, try value(depth: 1)))
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { i += 1; continue }
            try expect(UInt8(ascii: "}"))
            return result
        }
    }

    /// A member's name and the colon after it. A name the object already has is refused: parsers disagree on which
    /// of two equal names wins (JSONDecoder takes the first, most others the last).
    private mutating func memberName(notIn seen: inout Set<String>) throws(Failure) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw Failure(message: "expected a member name at byte \(i)") }
        let name = try string()
        guard seen.insert(name).inserted else { throw Failure(message: "member \"\(name)\" appears twice") }
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
        skipWhitespace()
        return name
    }

    private mutating func value(depth: Int) throws(Failure) -> Value {
        guard depth < 64 else { throw Failure(message: "nested too deeply") }
        guard let c = peek() else { throw Failure(message: "unexpected end of input") }
        switch c {
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "{"):
            let start = i
            try skipContainer(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), depth: depth)
            return .object(start..<i)
        case UInt8(ascii: "["):
            let start = i
            try skipContainer(open: UInt8(ascii: "["), close: UInt8(ascii: "]"), depth: depth)
            return .array(start..<i)
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard i + count <= bytes.count else { throw Failure(message: "unexpected end of input") }
        for k in 0..<count where bytes[i + k] != word.utf8Start[k] {
            throw Failure(message: "invalid literal at byte \(i)")
        }
        i += count
    }

    private mutating func skipContainer(open: UInt8, close: UInt8, depth: Int) throws(Failure) {
        try expect(open)
        skipWhitespace()
        if peek() == close { i += 1; return }
        var seen = Set<String>()
        while true {
            skipWhitespace()
            if open == UInt8(ascii: "{") { _ = try memberName(notIn: &seen) }
            _ = try value(depth: depth + 1)
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { i += 1; continue }
            try expect(close)
            return
        }
    }

    private mutating func number() throws(Failure) -> String {
        let start = i
        if peek() == UInt8(ascii: "-") { i += 1 }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw Failure(message: "invalid value at byte \(start)") }
        if first == 0x30 { i += 1 } else { while let d = peek(), d >= 0x30, d <= 0x39 { i += 1 } }
        if peek() == UInt8(ascii: ".") {
            i += 1
            guard let d = peek(), d >= 0x30, d <= 0x39 else { throw Failure(message: "invalid number at byte \(start)") }
            while let d = peek(), d >= 0x30, d <= 0x39 { i += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            i += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
            guard let d = peek(), d >= 0x30, d <= 0x39 else { throw Failure(message: "invalid number at byte \(start)") }
            while let d = peek(), d >= 0x30, d <= 0x39 { i += 1 }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func string() throws(Failure) -> String {
        try expect(UInt8(ascii: "\""))
        var out: [UInt8] = []
        var start = i
        while true {
            guard i < bytes.count else { throw Failure(message: "unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[start..<i])
                i += 1
                break
            }
            if c < 0x20 { throw Failure(message: "control character in string at byte \(i)") }
            if c == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[start..<i])
                i += 1
                guard let e = peek() else { throw Failure(message: "unterminated string") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard peek() == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                            throw Failure(message: "unpaired surrogate in string")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw Failure(message: "unpaired surrogate in string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw Failure(message: "unpaired surrogate in string")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    throw Failure(message: "invalid escape in string at byte \(i - 1)")
                }
                start = i
                continue
            }
            i += 1
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw Failure(message: "string is not valid UTF-8") }
        return text
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw Failure(message: "truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw Failure(message: "invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

/// Writes JSON text; only what the envelope needs.
struct JSONWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func raw(_ text: [UInt8]) {
        bytes.append(contentsOf: text)
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func number(_ value: Int) {
        bytes.append(contentsOf: Array(String(value).utf8))
    }
}
