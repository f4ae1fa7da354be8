import Foundation
import PGClient

/// A domain event type: its contract name and version, the topic its producer owns, and its checks beyond what
/// decoding enforces.
///
/// Payload types are `Codable` with snake_case keys; `schemas/events/<EventType>.v<N>.schema.json` describes the
/// same payload for other languages, and a test keeps the two in agreement.
public protocol SagaEvent: Codable, Sendable {
    static var eventType: String { get }
    static var schemaVersion: Int { get }
    /// The topic this event is published to; its producer's topic.
    static var topic: String { get }
    /// Checks that decoding cannot express: ranges, formats, non-empty strings. Throws `EventValidationError`.
    func validate() throws
}

extension SagaEvent {
    public func validate() throws {}
}

public struct EventValidationError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// The frame every event travels in: JSON with `event_id`, `event_type`, `schema_version`, `saga_id`,
/// `occurred_at`, `causation_id`, `producer` and `payload`. The Kafka key is `saga_id`, so one saga's events share
/// a partition.
public struct EventEnvelope: Sendable, Hashable {
    public var eventID: UUID
    public var eventType: String
    public var schemaVersion: Int
    public var sagaID: String
    public var occurredAt: Date
    /// The event whose handling produced this one; nil for a saga's first event.
    public var causationID: UUID?
    /// The service that produced the event.
    public var producer: String
    /// The payload object's JSON text, exactly as received or encoded.
    public var payload: [UInt8]

    public init(
        eventID: UUID = .timeOrdered(), eventType: String, schemaVersion: Int, sagaID: String, occurredAt: Date = Date(),
        causationID: UUID?, producer: String, payload: [UInt8]
    ) {
        self.eventID = eventID
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.sagaID = sagaID
        self.occurredAt = occurredAt
        self.causationID = causationID
        self.producer = producer
        self.payload = payload
    }

    /// Wraps a typed event.
    public init<E: SagaEvent>(
        _ event: E, sagaID: String, causationID: UUID?, producer: String, eventID: UUID = .timeOrdered(), occurredAt: Date = Date()
    ) throws {
        self.init(
            eventID: eventID, eventType: E.eventType, schemaVersion: E.schemaVersion, sagaID: sagaID, occurredAt: occurredAt,
            causationID: causationID, producer: producer, payload: try EventCoding.encodePayload(event)
        )
    }

    /// Limits that keep a single event from being a denial of service; Kafka's default maximum is about 1 MiB.
    public static let maxEncodedSize = 64 * 1024
    public static let maxSagaIDLength = 128

    // MARK: - JSON

    /// The envelope's JSON text. The payload's bytes are copied in unchanged.
    public func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: payload.count + 320)
        w.raw("{\"event_id\":")
        w.string(eventID.uuidString.lowercased())
        w.raw(",\"event_type\":")
        w.string(eventType)
        w.raw(",\"schema_version\":")
        w.number(schemaVersion)
        w.raw(",\"saga_id\":")
        w.string(sagaID)
        w.raw(",\"occurred_at\":")
        w.string(RFC3339.format(occurredAt))
        w.raw(",\"causation_id\":")
        if let causationID { w.string(causationID.uuidString.lowercased()) } else { w.raw("null") }
        w.raw(",\"producer\":")
        w.string(producer)
        w.raw(",\"payload\":")
        w.raw(payload)
        w.raw("}")
        return w.bytes
    }

    /// Checks what `decode` would check, on the producing side: an event no consumer would accept must not reach
    /// the outbox.
    public func validateForPublishing(encodedSize: Int) throws(EnvelopeError) {
        guard !eventType.isEmpty, eventType.utf8.count <= 100 else { throw EnvelopeError("event_type must be 1 to 100 characters") }
        guard schemaVersion >= 1 else { throw EnvelopeError("schema_version must be at least 1") }
        guard !sagaID.isEmpty, sagaID.utf8.count <= Self.maxSagaIDLength else {
            throw EnvelopeError("saga_id must be 1 to \(Self.maxSagaIDLength) bytes")
        }
        guard !producer.isEmpty else { throw EnvelopeError("producer must not be empty") }
        guard (try? JSONScanner.objectMembers(payload)) != nil else { throw EnvelopeError("payload must be a JSON object") }
        guard encodedSize <= Self.maxEncodedSize else {
            throw EnvelopeError("event is \(encodedSize) bytes, over the \(Self.maxEncodedSize)-byte limit")
        }
    }

    /// Reads and checks an envelope (not its payload's contents). The error says exactly what is wrong.
    public static func decode(_ bytes: [UInt8]) throws(EnvelopeError) -> EventEnvelope {
        guard bytes.count <= maxEncodedSize else {
            throw EnvelopeError("event is \(bytes.count) bytes, over the \(maxEncodedSize)-byte limit")
        }
        let members: [(String, JSONScanner.Value)]
        do {
            members = try JSONScanner.objectMembers(bytes)
        } catch {
            throw EnvelopeError("not valid JSON: \(error.message)")
        }
        var fields: [String: JSONScanner.Value] = [:]
        for (name, value) in members { fields[name] = value }

        func string(_ name: String) throws(EnvelopeError) -> String {
            guard let value = fields[name] else { throw EnvelopeError("missing \(name)") }
            guard case .string(let text) = value else { throw EnvelopeError("\(name) must be a string, not \(value.kind)") }
            return text
        }
        func uuid(_ name: String) throws(EnvelopeError) -> UUID {
            let text = try string(name)
            guard let id = UUID(canonical: text) else { throw EnvelopeError("\(name) is not a UUID") }
            return id
        }

        let eventID = try uuid("event_id")
        let eventType = try string("event_type")
        guard !eventType.isEmpty, eventType.utf8.count <= 100 else { throw EnvelopeError("event_type must be 1 to 100 characters") }
        guard let versionValue = fields["schema_version"] else { throw EnvelopeError("missing schema_version") }
        guard case .number(let versionText) = versionValue, let schemaVersion = Int(versionText), schemaVersion >= 1 else {
            throw EnvelopeError("schema_version must be an integer of at least 1")
        }
        let sagaID = try string("saga_id")
        guard !sagaID.isEmpty, sagaID.utf8.count <= maxSagaIDLength else {
            throw EnvelopeError("saga_id must be 1 to \(maxSagaIDLength) bytes")
        }
        guard let occurredAt = RFC3339.parse(try string("occurred_at")) else {
            throw EnvelopeError("occurred_at is not an RFC 3339 date-time")
        }
        var causationID: UUID? = nil
        switch fields["causation_id"] {
        case nil: throw EnvelopeError("missing causation_id")
        case .null?: causationID = nil
        case .string?: causationID = try uuid("causation_id")
        case let other?: throw EnvelopeError("causation_id must be a UUID or null, not \(other.kind)")
        }
        let producer = try string("producer")
        guard !producer.isEmpty else { throw EnvelopeError("producer must not be empty") }
        guard let payloadValue = fields["payload"] else { throw EnvelopeError("missing payload") }
        guard case .object(let range) = payloadValue else { throw EnvelopeError("payload must be an object, not \(payloadValue.kind)") }
        return EventEnvelope(
            eventID: eventID, eventType: eventType, schemaVersion: schemaVersion, sagaID: sagaID, occurredAt: occurredAt,
            causationID: causationID, producer: producer, payload: Array(bytes[range])
        )
    }
}

/// Why bytes are not a usable envelope.
public struct EnvelopeError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Payload coding: snake_case keys, no Double for money (payload types use integer minor units).
public enum EventCoding {
    // Configured once: building a coder per event showed in profiles of busy consumers.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in ContractKey(path.last!.stringValue) }
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 date-time")
            }
            return date
        }
        return decoder
    }()

    public static func encodePayload<E: Encodable>(_ value: E) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    public static func decodePayload<E: Decodable>(_ type: E.Type, from bytes: [UInt8]) throws -> E {
        try decoder.decode(type, from: Data(bytes))
    }

    /// A payload member name as the decoder matches it against a type's (camelCase) coding keys.
    ///
    /// Only a canonical snake_case name (`amount_cents`: lowercase words joined by single underscores, each word
    /// starting with a letter), the one form the encoder writes, maps to its camelCase key. Every other name
    /// (`amountCents`, `amount__cents`, `_amount_cents`, `Amount_Cents`) matches nothing, so it is an unknown
    /// member the tolerant reader ignores, as the JSON Schemas and any other language's reader see it.
    /// Foundation's `convertFromSnakeCase` would map all of those onto `amountCents`: a payload could then carry
    /// a value that Swift reads and every other reader ignores.
    struct ContractKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }

        init(_ name: String) {
            stringValue = Self.camelCase(name) ?? ("\u{0}" + name)
        }

        init?(stringValue: String) { self.init(stringValue) }
        init?(intValue: Int) { nil }

        static func camelCase(_ name: String) -> String? {
            var out = ""
            var startOfWord = true
            var first = true
            for byte in name.utf8 {
                switch byte {
                case UInt8(ascii: "_"):
                    guard !startOfWord else { return nil }
                    startOfWord = true
                case UInt8(ascii: "a")...UInt8(ascii: "z"):
                    out.unicodeScalars.append(Unicode.Scalar(startOfWord && !first ? byte - 32 : byte))
                    startOfWord = false
                    first = false
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard !startOfWord else { return nil }
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                default:
                    return nil
                }
            }
            return startOfWord ? nil : out
        }
    }
}

/// RFC 3339 date-times in UTC with microseconds.
public enum RFC3339 {
    public static func format(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int(floor(micros / 1_000_000))
        let fraction = Int(micros - Double(seconds) * 1_000_000)
        var t = tm()
        gmtime_r(&seconds, &t)
        var out = [UInt8]()
        out.reserveCapacity(27)
        func put(_ value: Int, _ width: Int) {
            var digits = [UInt8](repeating: 48, count: width)
            var v = value
            for k in stride(from: width - 1, through: 0, by: -1) { digits[k] = UInt8(48 + v % 10); v /= 10 }
            out.append(contentsOf: digits)
        }
        put(Int(t.tm_year) + 1900, 4); out.append(45); put(Int(t.tm_mon) + 1, 2); out.append(45); put(Int(t.tm_mday), 2)
        out.append(84); put(Int(t.tm_hour), 2); out.append(58); put(Int(t.tm_min), 2); out.append(58); put(Int(t.tm_sec), 2)
        out.append(46); put(fraction, 6); out.append(90)
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict RFC 3339: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for k in from..<(from + count) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                v = v * 10 + Int(b[k]) - 48
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2),
              let minute = num(14, 2), let second = num(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        // timegm would silently move 30 February to 1 or 2 March.
        let isLeapYear = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth = [31, isLeapYear ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard day <= daysInMonth else { return nil }
        var i = 19
        var micros = 0
        if b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 6 { micros = micros * 10 + Int(b[i]) - 48 }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 6)..<6 { micros *= 10 }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45 {
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2), oh < 24, om < 60 else { return nil }
            offset = (b[i] == 45 ? -1 : 1) * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        return Date(timeIntervalSince1970: Double(timegm(&t) - offset) + Double(micros) / 1_000_000)
    }
}

extension UUID {
    /// A version 7 UUID (RFC 9562): milliseconds since the epoch, then random bits. Event ids are the keys of the
    /// outbox, the inbox and the tracker's event table; ids that grow with time land on the same few index pages
    /// instead of a random page per insert, which a busy database feels.
    public static func timeOrdered(at date: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        let random: (UInt64, UInt64) = (generator.next(), generator.next())
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - UInt64(i)))) }
        for i in 6..<16 {
            let word = i < 14 ? random.0 : random.1
            bytes[i] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(i % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
