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
        guard !TextInput.hasControlCharacter(sagaID) else { throw EnvelopeError("saga_id must not contain control characters") }
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
        // A NUL would reach PostgreSQL cut short, acting on another saga; no control character belongs in an id.
        guard !TextInput.hasControlCharacter(sagaID) else { throw EnvelopeError("saga_id must not contain control characters") }
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
