/// The event types a process understands: contract name → payload type, version and topic.
///
/// The consumer runner uses it to turn a message into a typed event, or into a reason for the dead-letter topic.
public struct EventRegistry: Sendable {
    struct Entry: Sendable {
        let schemaVersion: Int
        let topic: String
        let decode: @Sendable ([UInt8]) throws -> any SagaEvent
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    public init(_ types: [any SagaEvent.Type]) {
        for type in types { register(type) }
    }

    public mutating func register<E: SagaEvent>(_ type: E.Type) {
        entries[E.eventType] = Entry(schemaVersion: E.schemaVersion, topic: E.topic) { bytes in
            try EventCoding.decodePayload(E.self, from: bytes)
        }
    }

    public var eventTypes: [String] { entries.keys.sorted() }

    public func topic(for eventType: String) -> String? { entries[eventType]?.topic }

    public func contains(_ eventType: String) -> Bool { entries[eventType] != nil }

    /// The typed, validated payload of an envelope.
    public func decode(_ envelope: EventEnvelope) throws(EnvelopeError) -> any SagaEvent {
        guard let entry = entries[envelope.eventType] else {
            throw EnvelopeError("unknown event_type \(envelope.eventType)")
        }
        guard envelope.schemaVersion == entry.schemaVersion else {
            throw EnvelopeError("unsupported schema_version \(envelope.schemaVersion) for \(envelope.eventType) (this consumer reads \(entry.schemaVersion))")
        }
        let event: any SagaEvent
        do {
            event = try entry.decode(envelope.payload)
        } catch let error as DecodingError {
            // JSONDecoder reports a number that does not fit its field (12.5 or 1e30 for an Int) as "not valid
            // JSON" at the root, without the field's path or an underlying error.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
               context.debugDescription.contains("not valid JSON"), JSONScanner.isValidJSON(envelope.payload) {
                throw EnvelopeError("\(envelope.eventType) payload: a number does not fit its field (a fraction or out of range for an integer)")
            }
            throw EnvelopeError("\(envelope.eventType) payload: \(Self.describe(error))")
        } catch {
            throw EnvelopeError("\(envelope.eventType) payload: \(error)")
        }
        do {
            try event.validate()
        } catch {
            throw EnvelopeError("\(envelope.eventType) payload: \(error)")
        }
        return event
    }

    /// One line that names the field, without echoing its value.
    static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let keys = (codingPath + (key.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? snakeCase($0.stringValue) }
            return keys.isEmpty ? "payload" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing \(path(context.codingPath, key))"
        case .valueNotFound(_, let context): return "\(path(context.codingPath)) must not be null"
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)) must be \(typeName(type))"
        case .dataCorrupted(let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "undecodable"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is Double.Type: "a number"
        default: "\(type)"
        }
    }

    private static func snakeCase(_ key: String) -> String {
        var out = ""
        for ch in key {
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }
}
