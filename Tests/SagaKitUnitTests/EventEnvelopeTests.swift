import Foundation
@testable import SagaKit
import Testing

@Suite("EventEnvelope")
struct EventEnvelopeTests {
    // MARK: - Round trip

    @Test("encode then decode gives back every field", arguments: [nil, UUID(uuidString: UnitEnvelopeJSON.causationID)])
    func roundTrip(causationID: UUID?) throws {
        let original = EventEnvelope(
            eventID: UUID(uuidString: UnitEnvelopeJSON.eventID)!, eventType: "UnitOrderPlaced", schemaVersion: 3,
            sagaID: "saga-42", occurredAt: unitInstant, causationID: causationID, producer: "orders",
            payload: Array(#"{"amount_minor":1250}"#.utf8)
        )
        let decoded = try EventEnvelope.decode(original.encoded())
        #expect(decoded.eventID == original.eventID)
        #expect(decoded.eventType == original.eventType)
        #expect(decoded.schemaVersion == 3)
        #expect(decoded.sagaID == original.sagaID)
        #expect(decoded.occurredAt == original.occurredAt)
        #expect(decoded.causationID == causationID)
        #expect(decoded.producer == original.producer)
        #expect(decoded.payload == original.payload)
        #expect(decoded == original)
    }

    @Test("the encoded text has the documented members in order, lowercase UUIDs and a null causation")
    func encodedText() {
        let envelope = EventEnvelope(
            eventID: UUID(uuidString: "6F1C2A4E-8B3D-4C5E-9F60-7A8B9C0D1E2F")!, eventType: "T", schemaVersion: 1,
            sagaID: "s", occurredAt: unitInstant, causationID: nil, producer: "p", payload: Array("{}".utf8)
        )
        let text = String(decoding: envelope.encoded(), as: UTF8.self)
        #expect(text == #"{"event_id":"6f1c2a4e-8b3d-4c5e-9f60-7a8b9c0d1e2f","event_type":"T","schema_version":1,"saga_id":"s","occurred_at":"2024-05-06T07:08:09.123456Z","causation_id":null,"producer":"p","payload":{}}"#)
    }

    @Test("saga ids and producers with quotes, backslashes, escapes and non-ASCII survive; producers with control characters too", arguments: [
        "quote\"d", "back\\slash", "é中😀", "a\"b\\c d é 😀 \\u0041 }",
    ])
    func awkwardStrings(text: String) throws {
        let producer = text + "\nline\r\ttab nul\u{0}bell\u{7}"
        let original = EventEnvelope(
            eventType: "T", schemaVersion: 1, sagaID: text, occurredAt: unitInstant, causationID: UUID(), producer: producer,
            payload: Array("{}".utf8)
        )
        let decoded = try EventEnvelope.decode(original.encoded())
        #expect(decoded.sagaID == text)
        #expect(decoded.producer == producer)
        #expect(decoded == original)
    }

    @Test("a saga id with a control character is refused on both sides: publishing and decoding", arguments: [
        "new\nline", "nul\u{0}x", "bell\u{7}", "del\u{7F}", "c1\u{85}",
    ])
    func controlCharacterSagaID(text: String) throws {
        let envelope = EventEnvelope(eventType: "T", schemaVersion: 1, sagaID: text, causationID: nil, producer: "p", payload: Array("{}".utf8))
        let encoded = envelope.encoded()
        #expect(throws: EnvelopeError("saga_id must not contain control characters")) {
            try envelope.validateForPublishing(encodedSize: encoded.count)
        }
        #expect(throws: EnvelopeError("saga_id must not contain control characters")) { try EventEnvelope.decode(encoded) }
    }

    @Test("the payload's bytes are kept exactly: whitespace, escapes, key order, number spelling")
    func payloadBytesExact() throws {
        let payload = Array("{ \"z\" : [1, 2.50, -0.0e0, \"\\u0041\\n\"],\n\t\"a\":{\"nested\":{}} , \"é\":\"😀\" }".utf8)
        let envelope = EventEnvelope(eventType: "T", schemaVersion: 1, sagaID: "s", causationID: nil, producer: "p", payload: payload)
        let encoded = envelope.encoded()
        let decoded = try EventEnvelope.decode(encoded)
        #expect(decoded.payload == payload)
        // The encoding copies the payload in unchanged, too.
        #expect(encoded.suffix(payload.count + 1) == ArraySlice(payload + Array("}".utf8)))
    }

    @Test("decode slices the payload out of text written by someone else")
    func decodeForeignText() throws {
        let text = """
            {
              "payload" : { "amount_minor" : 1 , "s": "}" } ,
              "producer": "orders", "causation_id": null,
              "occurred_at": "2024-05-06T09:08:09.123456+02:00", "saga_id": "saga-1", "schema_version": 2,
              "event_type": "UnitOrderPlaced", "event_id": "6F1C2A4E-8B3D-4C5E-9F60-7A8B9C0D1E2F"
            }
            """
        let decoded = try EventEnvelope.decode(Array(text.utf8))
        #expect(decoded.payload == Array(#"{ "amount_minor" : 1 , "s": "}" }"#.utf8))
        #expect(decoded.eventID == UUID(uuidString: UnitEnvelopeJSON.eventID))
        #expect(decoded.occurredAt == unitInstant)
        #expect(decoded.causationID == nil)
        #expect(decoded.schemaVersion == 2)
    }

    @Test("the fixture envelope is valid, so each rejection below is caused by its one change")
    func fixtureIsValid() throws {
        let decoded = try EventEnvelope.decode(UnitEnvelopeJSON().bytes)
        #expect(decoded.eventType == "UnitOrderPlaced")
        #expect(decoded.causationID == UUID(uuidString: UnitEnvelopeJSON.causationID))
    }

    @Test("wrapping a typed event sets its type, version and snake_case payload")
    func typedInit() throws {
        let event = UnitOrderPlaced(customerName: "Ada", amountMinor: 5, placedAt: unitInstant, giftNote: nil, lineItems: [])
        let id = UUID()
        let envelope = try EventEnvelope(event, sagaID: "s", causationID: nil, producer: "p", eventID: id, occurredAt: unitInstant)
        #expect(envelope.eventID == id)
        #expect(envelope.eventType == "UnitOrderPlaced")
        #expect(envelope.schemaVersion == 2)
        #expect(String(decoding: envelope.payload, as: UTF8.self)
            == #"{"amount_minor":5,"customer_name":"Ada","line_items":[],"placed_at":"2024-05-06T07:08:09.123456Z"}"#)
    }

    // MARK: - Rejections

    struct Rejection: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let message: String
        var testDescription: String { name }

        init(_ name: String, _ json: UnitEnvelopeJSON, _ message: String) {
            self.init(name, json.bytes, message)
        }

        init(_ name: String, _ text: String, _ message: String) {
            self.init(name, Array(text.utf8), message)
        }

        init(_ name: String, _ bytes: [UInt8], _ message: String) {
            self.name = name
            self.bytes = bytes
            self.message = message
        }
    }

    static let rejections: [Rejection] = {
        let valid = UnitEnvelopeJSON()
        return [
            Rejection("not JSON", "hello", "not valid JSON: not a JSON object"),
            Rejection("empty input", "", "not valid JSON: not a JSON object"),
            Rejection("truncated", String(valid.text.dropLast()), "not valid JSON: expected '}' at byte \(valid.bytes.count - 1)"),
            Rejection("trailing garbage", valid.text + " x", "not valid JSON: trailing characters after the JSON object"),
            Rejection("a JSON array", "[" + valid.text + "]", "not valid JSON: not a JSON object"),
            Rejection("missing event_id", valid.removing("event_id"), "missing event_id"),
            Rejection("event_id not a UUID", valid.replacing("event_id", with: "\"order-1\""), "event_id is not a UUID"),
            Rejection("event_id a UUID without hyphens", valid.replacing("event_id", with: "\"6f1c2a4e8b3d4c5e9f607a8b9c0d1e2f\""), "event_id is not a UUID"),
            Rejection("event_id a number", valid.replacing("event_id", with: "12"), "event_id must be a string, not a number"),
            Rejection("duplicate member name", valid.appending("saga_id", "\"saga-2\""), "not valid JSON: member \"saga_id\" appears twice"),
            Rejection("missing event_type", valid.removing("event_type"), "missing event_type"),
            Rejection("empty event_type", valid.replacing("event_type", with: "\"\""), "event_type must be 1 to 100 characters"),
            Rejection("event_type over 100", valid.replacing("event_type", with: "\"\(String(repeating: "E", count: 101))\""), "event_type must be 1 to 100 characters"),
            Rejection("missing schema_version", valid.removing("schema_version"), "missing schema_version"),
            Rejection("schema_version 0", valid.replacing("schema_version", with: "0"), "schema_version must be an integer of at least 1"),
            Rejection("schema_version negative", valid.replacing("schema_version", with: "-1"), "schema_version must be an integer of at least 1"),
            Rejection("schema_version non-integer", valid.replacing("schema_version", with: "1.5"), "schema_version must be an integer of at least 1"),
            Rejection("schema_version 1.0", valid.replacing("schema_version", with: "1.0"), "schema_version must be an integer of at least 1"),
            Rejection("schema_version 1e0", valid.replacing("schema_version", with: "1e0"), "schema_version must be an integer of at least 1"),
            Rejection("schema_version too large", valid.replacing("schema_version", with: "99999999999999999999"), "schema_version must be an integer of at least 1"),
            Rejection("schema_version string", valid.replacing("schema_version", with: "\"2\""), "schema_version must be an integer of at least 1"),
            Rejection("schema_version null", valid.replacing("schema_version", with: "null"), "schema_version must be an integer of at least 1"),
            Rejection("missing saga_id", valid.removing("saga_id"), "missing saga_id"),
            Rejection("empty saga_id", valid.replacing("saga_id", with: "\"\""), "saga_id must be 1 to 128 bytes"),
            Rejection("saga_id over 128", valid.replacing("saga_id", with: "\"\(String(repeating: "s", count: 129))\""), "saga_id must be 1 to 128 bytes"),
            Rejection("saga_id an object", valid.replacing("saga_id", with: "{}"), "saga_id must be a string, not an object"),
            // libpq would cut "ORD-1\0x" to ORD-1, another saga.
            Rejection("saga_id with a NUL", valid.replacing("saga_id", with: "\"ORD-1\\u0000x\""), "saga_id must not contain control characters"),
            Rejection("saga_id with a line break", valid.replacing("saga_id", with: "\"ORD-1\\nx\""), "saga_id must not contain control characters"),
            Rejection("missing occurred_at", valid.removing("occurred_at"), "missing occurred_at"),
            Rejection("occurred_at not RFC 3339", valid.replacing("occurred_at", with: "\"2024-05-06 07:08:09\""), "occurred_at is not an RFC 3339 date-time"),
            Rejection("occurred_at without zone", valid.replacing("occurred_at", with: "\"2024-05-06T07:08:09\""), "occurred_at is not an RFC 3339 date-time"),
            Rejection("occurred_at a number", valid.replacing("occurred_at", with: "1714979289"), "occurred_at must be a string, not a number"),
            Rejection("missing causation_id", valid.removing("causation_id"), "missing causation_id"),
            Rejection("causation_id a number", valid.replacing("causation_id", with: "7"), "causation_id must be a UUID or null, not a number"),
            Rejection("causation_id a boolean", valid.replacing("causation_id", with: "false"), "causation_id must be a UUID or null, not a boolean"),
            Rejection("causation_id an array", valid.replacing("causation_id", with: "[]"), "causation_id must be a UUID or null, not an array"),
            Rejection("causation_id not a UUID", valid.replacing("causation_id", with: "\"\""), "causation_id is not a UUID"),
            Rejection("missing producer", valid.removing("producer"), "missing producer"),
            Rejection("empty producer", valid.replacing("producer", with: "\"\""), "producer must not be empty"),
            Rejection("producer null", valid.replacing("producer", with: "null"), "producer must be a string, not null"),
            Rejection("missing payload", valid.removing("payload"), "missing payload"),
            Rejection("payload an array", valid.replacing("payload", with: "[{}]"), "payload must be an object, not an array"),
            Rejection("payload a string", valid.replacing("payload", with: "\"{}\""), "payload must be an object, not a string"),
            Rejection("payload null", valid.replacing("payload", with: "null"), "payload must be an object, not null"),
            // `{..."payload":{"a":01}}`: the number ends after the 0, and the 1 sits 3 bytes before the end.
            Rejection("payload invalid inside", valid.replacing("payload", with: "{\"a\":01}"), "not valid JSON: expected '}' at byte \(valid.replacing("payload", with: "{\"a\":01}").bytes.count - 3)"),
            Rejection("payload nested too deeply", valid.replacing("payload", with: String(repeating: "{\"a\":", count: 64) + "1" + String(repeating: "}", count: 64)), "not valid JSON: nested too deeply"),
        ]
    }()

    @Test("a bad envelope is rejected with a message that names the problem", arguments: rejections)
    func rejection(_ example: Rejection) {
        #expect(unitEnvelopeRejection(example.bytes) == example.message)
    }

    @Test("a payload that repeats a member name is rejected, like a repeated envelope member")
    func duplicateInPayload() {
        // JSONDecoder would silently read one of the two values (here the first, so validate() never sees the -5);
        // a consumer in another language would typically read the last.
        let json = UnitEnvelopeJSON().replacing("payload", with: #"{"amount_minor":1,"amount_minor":-5}"#)
        #expect(unitEnvelopeRejection(json.bytes) == "not valid JSON: member \"amount_minor\" appears twice")
        let deeper = UnitEnvelopeJSON().replacing("payload", with: #"{"line_items":[{"sku_code":"A","sku_code":"B"}]}"#)
        #expect(unitEnvelopeRejection(deeper.bytes) == "not valid JSON: member \"sku_code\" appears twice")
    }

    @Test("saga_id of exactly 128 characters is accepted")
    func sagaIDAtLimit() throws {
        let id = String(repeating: "s", count: 128)
        let decoded = try EventEnvelope.decode(UnitEnvelopeJSON().replacing("saga_id", with: "\"\(id)\"").bytes)
        #expect(decoded.sagaID == id)
    }

    @Test("schema_version and causation_id of the accepted forms decode")
    func acceptedForms() throws {
        let valid = UnitEnvelopeJSON()
        #expect(try EventEnvelope.decode(valid.replacing("schema_version", with: "1").bytes).schemaVersion == 1)
        #expect(try EventEnvelope.decode(valid.replacing("causation_id", with: "null").bytes).causationID == nil)
        let upper = valid.replacing("causation_id", with: "\"\(UnitEnvelopeJSON.causationID.uppercased())\"")
        #expect(try EventEnvelope.decode(upper.bytes).causationID == UUID(uuidString: UnitEnvelopeJSON.causationID))
    }

    // MARK: - Size limit

    /// An envelope of exactly `size` bytes: the fixture with a padding string in its payload.
    private func envelope(ofSize size: Int) -> [UInt8] {
        let base = UnitEnvelopeJSON().replacing("payload", with: "{\"pad\":\"\"}").bytes.count
        let padding = String(repeating: "x", count: size - base)
        let bytes = UnitEnvelopeJSON().replacing("payload", with: "{\"pad\":\"\(padding)\"}").bytes
        precondition(bytes.count == size)
        return bytes
    }

    @Test("an envelope of exactly 64 KiB is accepted")
    func atSizeLimit() throws {
        let bytes = envelope(ofSize: 64 * 1024)
        let decoded = try EventEnvelope.decode(bytes)
        #expect(decoded.payload.count == 64 * 1024 - UnitEnvelopeJSON().replacing("payload", with: "").bytes.count)
    }

    @Test("an envelope over 64 KiB is rejected with its size and the limit")
    func overSizeLimit() {
        #expect(unitEnvelopeRejection(envelope(ofSize: 64 * 1024 + 1)) == "event is 65537 bytes, over the 65536-byte limit")
        // The size is checked before parsing, so even garbage gets the size message.
        let garbage = [UInt8](repeating: UInt8(ascii: "x"), count: 100_000)
        #expect(unitEnvelopeRejection(garbage) == "event is 100000 bytes, over the 65536-byte limit")
    }

    @Test("EnvelopeError describes itself by its message")
    func errorDescription() {
        #expect(EnvelopeError("missing payload").description == "missing payload")
        #expect("\(EnvelopeError("missing payload"))" == "missing payload")
    }
}
