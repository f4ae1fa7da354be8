import Foundation

/// The rows a statement returned, copied out of libpq's result.
public struct PGRows: Sendable, RandomAccessCollection {
    public let columns: [String]
    private let values: [String?]
    /// Rows inserted, updated or deleted, for statements that report it.
    public let affectedRows: Int

    init(columns: [String], values: [String?], affectedRows: Int) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { columns.isEmpty ? 0 : values.count / columns.count }

    public subscript(position: Int) -> PGRow {
        PGRow(columns: columns, values: values[(position * columns.count)..<((position + 1) * columns.count)])
    }
}

/// One row. Columns are read by name or position into a `PGDecodable` type; a NULL reads as nil into an
/// optional and is an error otherwise (libpq's own API returns "" for NULL).
public struct PGRow: Sendable {
    public let columns: [String]
    let values: ArraySlice<String?>

    public func decode<T: PGDecodable>(at index: Int, as type: T.Type = T.self) throws -> T {
        guard index >= 0, index < columns.count else {
            throw PGError(code: .missingColumn, message: "no column at index \(index)")
        }
        guard let text = values[values.startIndex + index] else {
            return try T.pgNull(column: columns[index])
        }
        do {
            return try T(pgText: text)
        } catch let error as PGError {
            throw PGError(code: error.code, message: "column \(columns[index]): \(error.message)")
        }
    }

    public func decode<T: PGDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let index = columns.firstIndex(of: column) else {
            throw PGError(code: .missingColumn, message: "no column named \(column)")
        }
        return try decode(at: index, as: type)
    }

    public func isNull(_ column: String) -> Bool {
        guard let index = columns.firstIndex(of: column) else { return true }
        return values[values.startIndex + index] == nil
    }
}

/// A value that can be read from a text-format column.
public protocol PGDecodable: Sendable {
    init(pgText: String) throws
    /// What a NULL column reads as: nil for optionals, an error for everything else.
    static func pgNull(column: String) throws -> Self
}

extension PGDecodable {
    public static func pgNull(column: String) throws -> Self {
        throw PGError(code: .unexpectedNull, message: "column \(column) is NULL")
    }
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public init(pgText: String) throws { self = .some(try Wrapped(pgText: pgText)) }
    public static func pgNull(column: String) throws -> Self { nil }
}

private func parse<T>(_ text: String, _ name: String, _ make: (String) -> T?) throws -> T {
    guard let value = make(text) else { throw PGError(code: .decoding, message: "'\(text.prefix(40))' is not \(name)") }
    return value
}

extension String: PGDecodable { public init(pgText: String) { self = pgText } }
extension Int: PGDecodable { public init(pgText: String) throws { self = try parse(pgText, "an integer") { Int($0) } } }
extension Int64: PGDecodable { public init(pgText: String) throws { self = try parse(pgText, "an integer") { Int64($0) } } }
extension Int32: PGDecodable { public init(pgText: String) throws { self = try parse(pgText, "an integer") { Int32($0) } } }
extension Double: PGDecodable { public init(pgText: String) throws { self = try parse(pgText, "a number") { Double($0) } } }
extension Decimal: PGDecodable {
    public init(pgText: String) throws { self = try parse(pgText, "a decimal") { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) } }
}
extension UUID: PGDecodable { public init(pgText: String) throws { self = try parse(pgText, "a UUID") { UUID(canonical: $0) } } }

extension UUID {
    /// Parses the canonical 8-4-4-4-12 hex form, either case. Foundation's `init(uuidString:)` goes through
    /// `sscanf`, which showed in profiles: every event and inbox row carries UUIDs.
    public init?(canonical text: String) {
        var text = text
        guard let bytes = text.withUTF8({ utf8 -> uuid_t? in
            guard utf8.count == 36 else { return nil }
            var out = [UInt8](repeating: 0, count: 16)
            var index = 0
            var high = true
            for (position, c) in utf8.enumerated() {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard c == UInt8(ascii: "-") else { return nil }
                    continue
                }
                let nibble: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
                default: return nil
                }
                if high { out[index] = nibble << 4 } else { out[index] |= nibble; index += 1 }
                high.toggle()
            }
            return (out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7],
                    out[8], out[9], out[10], out[11], out[12], out[13], out[14], out[15])
        }) else { return nil }
        self.init(uuid: bytes)
    }
}
extension Bool: PGDecodable {
    public init(pgText: String) throws {
        switch pgText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PGError(code: .decoding, message: "'\(pgText.prefix(8))' is not a boolean")
        }
    }
}
extension Date: PGDecodable {
    public init(pgText: String) throws { self = try parse(pgText, "a timestamp") { PGTimestamp.parse($0) } }
}

/// Text form of `timestamptz` in a session whose TimeZone is UTC (every `PGConnection` sets it).
///
/// PostgreSQL's wire format, not SagaKit's `RFC3339` (which PGClient, below SagaKit, cannot use anyway): `parse`
/// reads the server's output form (`2026-11-21 18:00:00.123456+00`, a space and a short offset, which RFC 3339
/// refuses), and `format` writes years that RFC 3339 cannot (before 0 or after 9999, which PostgreSQL stores).
enum PGTimestamp {
    static func format(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int(floor(micros / 1_000_000))
        let fraction = Int(micros - Double(seconds) * 1_000_000)
        var tm = tm()
        gmtime_r(&seconds, &tm)
        let year = Int(tm.tm_year) + 1900
        guard (0...9999).contains(year) else {
            return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        }
        // Digits into a fixed buffer: batches format thousands of these.
        var bytes = [UInt8](repeating: 0, count: 27)
        func put(_ value: Int, at offset: Int, width: Int) {
            var v = value
            for i in stride(from: offset + width - 1, through: offset, by: -1) {
                bytes[i] = UInt8(48 + v % 10)
                v /= 10
            }
        }
        put(year, at: 0, width: 4)
        bytes[4] = UInt8(ascii: "-")
        put(Int(tm.tm_mon) + 1, at: 5, width: 2)
        bytes[7] = UInt8(ascii: "-")
        put(Int(tm.tm_mday), at: 8, width: 2)
        bytes[10] = UInt8(ascii: "T")
        put(Int(tm.tm_hour), at: 11, width: 2)
        bytes[13] = UInt8(ascii: ":")
        put(Int(tm.tm_min), at: 14, width: 2)
        bytes[16] = UInt8(ascii: ":")
        put(Int(tm.tm_sec), at: 17, width: 2)
        bytes[19] = UInt8(ascii: ".")
        put(fraction, at: 20, width: 6)
        bytes[26] = UInt8(ascii: "Z")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads `2026-11-21 18:00:00.123456+00` (and the variants with `T`, no fraction, or a `+hh:mm` offset).
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                let d = Int(b[i]) - 48
                guard d >= 0 && d <= 9 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard b.count >= 19, let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
              let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2) else { return nil }
        var i = 19
        var micros = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 6 { micros = micros * 10 + Int(b[i]) - 48; digits += 1 }
                i += 1
            }
            for _ in digits..<6 { micros *= 10 }
        }
        var offsetSeconds = 0
        if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = num(i + 1, 2) else { return nil }
            var om = 0
            if i + 3 < b.count, b[i + 3] == UInt8(ascii: ":") { om = num(i + 4, 2) ?? 0 }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        }
        return Date(utcYear: year, month: month, day: day, hour: hour, minute: minute, second: second, micros: micros,
                    offsetSeconds: offsetSeconds)
    }
}

extension Date {
    /// The instant a date and time in a zone `offsetSeconds` east of UTC names: where both timestamp parsers end,
    /// PostgreSQL's text form's here and SagaKit's `RFC3339`. The caller checks the fields' ranges.
    package init(utcYear year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, micros: Int, offsetSeconds: Int) {
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        self.init(timeIntervalSince1970: Double(timegm(&t) - offsetSeconds) + Double(micros) / 1_000_000)
    }
}
