import Foundation

/// A statement and its parameters. Interpolated values become `$n` parameters, never SQL text:
///
///     let rows = try connection.query("SELECT available FROM stock WHERE sku = \(sku)")
///
/// Use `\(unsafeRaw:)` for identifiers the code itself controls.
public struct PGQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    /// Parameters in text format; nil is SQL NULL.
    public var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// The SQL only: parameters stay out of logs.
    public var description: String { sql }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value) {
            binds.append(value.pgText)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value?) {
            binds.append(value?.pgText)
            sql += "$\(binds.count)"
        }

        /// Inserts text into the SQL itself. Only for identifiers and fragments the program controls.
        public mutating func appendInterpolation(unsafeRaw text: String) {
            sql += text
        }
    }
}

/// A value that can be sent as a text-format parameter.
public protocol PGEncodable: Sendable {
    var pgText: String { get }
}

extension String: PGEncodable { public var pgText: String { self } }
extension Substring: PGEncodable { public var pgText: String { String(self) } }
extension Int: PGEncodable { public var pgText: String { String(self) } }
extension Int64: PGEncodable { public var pgText: String { String(self) } }
extension Int32: PGEncodable { public var pgText: String { String(self) } }
extension Int16: PGEncodable { public var pgText: String { String(self) } }
extension Bool: PGEncodable { public var pgText: String { self ? "true" : "false" } }
extension Double: PGEncodable { public var pgText: String { String(self) } }
extension Decimal: PGEncodable { public var pgText: String { "\(self)" } }
extension UUID: PGEncodable { public var pgText: String { uuidString.lowercased() } }

extension Date: PGEncodable {
    /// ISO 8601 in UTC with microseconds, which `timestamptz` reads exactly.
    public var pgText: String { PGTimestamp.format(self) }
}

extension Array: PGEncodable where Element: PGEncodable {
    /// A Postgres array literal; cast it in SQL when the type is ambiguous (`\(ids)::uuid[]`).
    public var pgText: String { PGArray(self).pgText }
}

/// An array parameter whose elements may be NULL: `\(PGArray(names))::text[]` for `names: [String?]`.
public struct PGArray<Element: PGEncodable>: PGEncodable {
    public var elements: [Element?]

    public init(_ elements: [Element?]) { self.elements = elements }

    public var pgText: String {
        // Built as bytes: this runs for every element of every batch a consumer writes, payloads included.
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(2 + elements.count * 16)
        for (i, element) in elements.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let element else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            var text = element.pgText
            text.withUTF8 { utf8 in
                for byte in utf8 {
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                    bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Binary data as a `bytea` hex literal.
public struct PGBytes: PGEncodable, PGDecodable, Hashable {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var pgText: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]("\\x".utf8)
        out.reserveCapacity(2 + bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public init(pgText text: String) throws {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw PGError(code: .decoding, message: "bytea is not in hex format")
        }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw PGError(code: .decoding, message: "bytea has a non-hex digit")
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2 - 1)
        var i = 2
        while i < utf8.count {
            bytes.append(try nibble(utf8[i]) << 4 | nibble(utf8[i + 1]))
            i += 2
        }
        self.bytes = bytes
    }
}
