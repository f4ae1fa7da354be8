import KafkaClient

/// What a consumer makes of a polled message before any transaction: the one decode-and-validate path, shared by
/// the consumer and by replay's dry run, so the dry run's "would be dead-lettered again" is the consumer's verdict,
/// not a copy of it that could drift.
public enum IncomingMessage: Sendable {
    /// A valid event this consumer handles.
    case event(EventEnvelope, any SagaEvent)
    /// Goes to the dead-letter topic with this reason: no value, not an envelope, the key is not its saga id, an
    /// unknown event type or version, or a payload its event's checks refuse.
    case invalid(reason: String)
    /// A known event type this consumer has no handler for.
    case ignored(EventEnvelope)

    public static func classify(_ message: KafkaMessage, registry: EventRegistry, handlers: EventHandlers) -> IncomingMessage {
        guard let value = message.value else { return .invalid(reason: "message has no value") }
        let envelope: EventEnvelope
        do {
            envelope = try EventEnvelope.decode(value)
        } catch {
            return .invalid(reason: "invalid envelope: \(error.message)")
        }
        if let key = message.keyString, key != envelope.sagaID {
            return .invalid(reason: "message key '\(key.prefix(64))' is not the envelope's saga_id")
        }
        guard registry.contains(envelope.eventType) else {
            return .invalid(reason: "unknown event_type \(envelope.eventType)")
        }
        guard handlers.registration(for: envelope.eventType) != nil else {
            return .ignored(envelope)
        }
        do {
            return .event(envelope, try registry.decode(envelope))
        } catch {
            return .invalid(reason: "schema violation: \(error.message)")
        }
    }
}
