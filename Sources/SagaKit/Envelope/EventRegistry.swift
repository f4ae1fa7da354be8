/// The event types a process understands: contract name → payload type, the versions it reads, and topic.
///
/// The consumer runner uses it to turn a message into a typed event, or into a reason for the dead-letter topic.
/// `schema_version` is a contract's major version (schemas/README.md): compatible changes keep it, so a version
/// this registry does not list is a breaking change it cannot read, and `decode` refuses it.
public struct EventRegistry: Sendable {
    struct Entry: Sendable {
        /// The version handlers receive: the registered type's own.
        var current: Int
        let topic: String
        /// Every version this process reads; older ones upcast to the current type.
        var decoders: [Int: @Sendable ([UInt8]) throws -> any SagaEvent]
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    public init(_ types: [any SagaEvent.Type]) {
        for type in types { register(type) }
    }

    public mutating func register<E: SagaEvent>(_ type: E.Type) {
        let decode: @Sendable ([UInt8]) throws -> any SagaEvent = { bytes in
            let event = try EventCoding.decodePayload(E.self, from: bytes)
            try event.validate()
            return event
        }
        if var entry = entries[E.eventType] {
            precondition(entry.topic == E.topic, "\(E.eventType) registered on two topics")
            entry.current = E.schemaVersion
            entry.decoders[E.schemaVersion] = decode
            entries[E.eventType] = entry
        } else {
            entries[E.eventType] = Entry(current: E.schemaVersion, topic: E.topic, decoders: [E.schemaVersion: decode])
        }
    }

    /// Also reads an older major version of a registered type, converted to the current type before any handler
    /// sees it. Consumers register this before producers emit the new version, and keep it for the deprecation
    /// window (schemas/README.md), so a redelivered or replayed old event is still understood.
    public mutating func register<Old: SagaEvent, Current: SagaEvent>(
        _ old: Old.Type, upcastingTo current: Current.Type, _ upcast: @escaping @Sendable (Old) throws -> Current
    ) {
        precondition(Old.eventType == Current.eventType && Old.topic == Current.topic, "an upcast stays within one event type and topic")
        precondition(Old.schemaVersion != Current.schemaVersion, "an upcast is between two versions")
        if entries[Current.eventType]?.current != Current.schemaVersion { register(Current.self) }
        entries[Current.eventType]!.decoders[Old.schemaVersion] = { bytes in
            let old = try EventCoding.decodePayload(Old.self, from: bytes)
            try old.validate()
            let event = try upcast(old)
            try event.validate()
            return event
        }
    }

    public var eventTypes: [String] { entries.keys.sorted() }

    public func topic(for eventType: String) -> String? { entries[eventType]?.topic }

    public func contains(_ eventType: String) -> Bool { entries[eventType] != nil }

    /// The schema versions of an event type this process reads, oldest first.
    public func schemaVersions(of eventType: String) -> [Int] { entries[eventType]?.decoders.keys.sorted() ?? [] }

    /// The typed, validated payload of an envelope. Unknown payload members are ignored (tolerant reader);
    /// missing required ones, wrong types and versions it does not read are refused with a reason.
    public func decode(_ envelope: EventEnvelope) throws(EnvelopeError) -> any SagaEvent {
        guard let entry = entries[envelope.eventType] else {
            throw EnvelopeError("unknown event_type \(envelope.eventType)")
        }
        guard let decode = entry.decoders[envelope.schemaVersion] else {
            let versions = entry.decoders.keys.sorted().map(String.init).joined(separator: ", ")
            throw EnvelopeError("unsupported schema_version \(envelope.schemaVersion) for \(envelope.eventType) (this consumer reads \(versions))")
        }
        do {
            return try decode(envelope.payload)
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
