import Foundation
@testable import SagaKit
import Testbed
import Testing

@Suite("EventRegistry and EventCoding")
struct EventRegistryTests {
    private let registry = EventRegistry([TestbedPing.self, UnitOrderPlaced.self])

    private func envelope(_ type: String = "UnitOrderPlaced", version: Int = 2, payload: String) -> EventEnvelope {
        EventEnvelope(
            eventType: type, schemaVersion: version, sagaID: "s", occurredAt: unitInstant, causationID: nil, producer: "p",
            payload: Array(payload.utf8)
        )
    }

    /// The message of the error `registry.decode` throws, or nil if it decodes.
    private func failure(_ envelope: EventEnvelope) -> String? {
        do {
            _ = try registry.decode(envelope)
            return nil
        } catch {
            return error.message
        }
    }

    private let validOrder = #"{"customer_name":"Ada","amount_minor":1250,"placed_at":"2024-05-06T07:08:09.123456Z","line_items":[{"sku_code":"A-1","unit_price_minor":625}]}"#

    // MARK: - Registration

    @Test("knows its registered types and their topics")
    func registration() {
        #expect(registry.eventTypes == ["TestbedPing", "UnitOrderPlaced"])
        #expect(registry.contains("TestbedPing"))
        #expect(!registry.contains("TestbedPong"))
        #expect(registry.topic(for: "UnitOrderPlaced") == "unit.orders")
        #expect(registry.topic(for: "TestbedPing") == "testbed.pings")
        #expect(registry.topic(for: "Nope") == nil)
        #expect(EventRegistry().eventTypes.isEmpty)
    }

    // MARK: - Decoding

    @Test("decodes a registered event into its type")
    func decodes() throws {
        let event = try registry.decode(envelope(payload: validOrder))
        let order = try #require(event as? UnitOrderPlaced)
        #expect(order == UnitOrderPlaced(
            customerName: "Ada", amountMinor: 1250, placedAt: unitInstant, giftNote: nil,
            lineItems: [.init(skuCode: "A-1", unitPriceMinor: 625)]
        ))
        let ping = try registry.decode(envelope("TestbedPing", version: 1, payload: #"{"sequence":3,"note":"hi"}"#))
        #expect(ping as? TestbedPing == TestbedPing(sequence: 3, note: "hi"))
    }

    @Test("rejects an unknown event_type, naming it")
    func unknownType() {
        #expect(failure(envelope("TestbedPong", version: 1, payload: #"{"sequence":1}"#)) == "unknown event_type TestbedPong")
    }

    @Test("rejects a schema_version it does not read, naming both versions")
    func unsupportedVersion() {
        #expect(failure(envelope(version: 3, payload: validOrder))
            == "unsupported schema_version 3 for UnitOrderPlaced (this consumer reads 2)")
        #expect(failure(envelope("TestbedPing", version: 2, payload: #"{"sequence":1}"#))
            == "unsupported schema_version 2 for TestbedPing (this consumer reads 1)")
    }

    @Test("a missing payload field is named in snake_case")
    func missingField() {
        #expect(failure(envelope(payload: #"{"customer_name":"Ada","placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#))
            == "UnitOrderPlaced payload: missing amount_minor")
        #expect(failure(envelope("TestbedPing", version: 1, payload: "{}")) == "TestbedPing payload: missing sequence")
    }

    @Test("a missing field inside a nested value is named by its snake_case path")
    func missingNestedField() throws {
        let message = try #require(failure(envelope(payload: #"{"customer_name":"Ada","amount_minor":1,"placed_at":"2024-05-06T07:08:09Z","line_items":[{"sku_code":"A"}]}"#)))
        #expect(message.hasPrefix("UnitOrderPlaced payload: missing line_items."))
        #expect(message.hasSuffix(".unit_price_minor"))
    }

    @Test("a field of the wrong type is named with the type expected")
    func wrongType() {
        #expect(failure(envelope(payload: #"{"customer_name":"Ada","amount_minor":"1250","placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#))
            == "UnitOrderPlaced payload: amount_minor must be an integer")
        #expect(failure(envelope(payload: #"{"customer_name":7,"amount_minor":1250,"placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#))
            == "UnitOrderPlaced payload: customer_name must be a string")
        #expect(failure(envelope("TestbedPing", version: 1, payload: #"{"sequence":1,"note":false}"#))
            == "TestbedPing payload: note must be a string")
    }

    @Test("a number that does not fit an integer field is not reported as invalid JSON", arguments: ["12.5", "1e30"])
    func numberDoesNotFit(number: String) throws {
        let message = try #require(failure(envelope(payload: #"{"customer_name":"Ada","amount_minor":"# + number + #","placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#)))
        #expect(message.hasPrefix("UnitOrderPlaced payload: "))
        #expect(!message.contains("not valid JSON"), "the payload is valid JSON: \(message)")
        #expect(!message.contains("payload: payload"), "\(message)")
    }

    @Test("null for a required field says it must not be null")
    func nullField() {
        #expect(failure(envelope("TestbedPing", version: 1, payload: #"{"sequence":null}"#)) == "TestbedPing payload: sequence must not be null")
    }

    @Test("a date that is not RFC 3339 names the field")
    func badDate() {
        #expect(failure(envelope(payload: #"{"customer_name":"Ada","amount_minor":1,"placed_at":"yesterday","line_items":[]}"#))
            == "UnitOrderPlaced payload: placed_at: not an RFC 3339 date-time")
    }

    @Test("the message does not echo the offending value")
    func noEcho() throws {
        let message = try #require(failure(envelope(payload: #"{"customer_name":"Ada","amount_minor":"secret-4111","placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#)))
        #expect(!message.contains("secret"))
    }

    @Test("a payload that fails validate() is rejected with the validation message")
    func validationFails() {
        #expect(failure(envelope("TestbedPing", version: 1, payload: #"{"sequence":-1}"#)) == "TestbedPing payload: sequence must not be negative")
        #expect(failure(envelope(payload: #"{"customer_name":"Ada","amount_minor":0,"placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#))
            == "UnitOrderPlaced payload: amount_minor must be positive")
    }

    // MARK: - EventCoding

    @Test("encodes payloads with snake_case keys, sorted, RFC 3339 dates, unescaped slashes, no nulls for nil")
    func encodesSnakeCase() throws {
        let order = UnitOrderPlaced(
            customerName: "A/B", amountMinor: 1250, placedAt: unitInstant, giftNote: nil,
            lineItems: [.init(skuCode: "X", unitPriceMinor: 1250)]
        )
        let text = String(decoding: try EventCoding.encodePayload(order), as: UTF8.self)
        #expect(text == #"{"amount_minor":1250,"customer_name":"A/B","line_items":[{"sku_code":"X","unit_price_minor":1250}],"placed_at":"2024-05-06T07:08:09.123456Z"}"#)
    }

    @Test("decodes what it encodes")
    func codingRoundTrip() throws {
        let order = UnitOrderPlaced(
            customerName: "Zoë \"Z\" \\ 😀", amountMinor: Int.max, placedAt: unitInstant, giftNote: "with\nlove",
            lineItems: [.init(skuCode: "X", unitPriceMinor: -1), .init(skuCode: "", unitPriceMinor: 0)]
        )
        let decoded = try EventCoding.decodePayload(UnitOrderPlaced.self, from: EventCoding.encodePayload(order))
        #expect(decoded == order)
    }

    @Test("decodes snake_case keys into camelCase properties and dates with offsets")
    func decodesSnakeCase() throws {
        let decoded = try EventCoding.decodePayload(UnitOrderPlaced.self, from: Array(#"{"customer_name":"Ada","amount_minor":1,"placed_at":"2024-05-06T09:08:09.123456+02:00","gift_note":"hi","line_items":[]}"#.utf8))
        #expect(decoded.customerName == "Ada")
        #expect(decoded.giftNote == "hi")
        #expect(decoded.placedAt == unitInstant)
    }

    // MARK: - Compatibility (schemas/README.md)

    @Test("a member counts only in its canonical snake_case spelling; look-alikes are unknown members")
    func exactSpelling() throws {
        for alias in ["amountMinor", "amount__minor", "_amount_minor", "amount_minor_", "Amount_Minor", "amount_1minor"] {
            #expect(failure(envelope(payload: #"{"customer_name":"Ada",""# + alias + #"":5,"placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#))
                == "UnitOrderPlaced payload: missing amount_minor", "\(alias)")
        }
        let event = try registry.decode(envelope(payload: #"{"customer_name":"Ada","amount_minor":5,"amountMinor":7,"placed_at":"2024-05-06T07:08:09Z","line_items":[]}"#))
        #expect((event as? UnitOrderPlaced)?.amountMinor == 5)
        #expect(EventCoding.ContractKey.camelCase("unit_price_minor") == "unitPriceMinor")
        #expect(EventCoding.ContractKey.camelCase("a1_b2") == "a1B2")
        for name in ["", "_", "a__b", "_a", "a_", "A", "a_1", "a-b", "é"] {
            #expect(EventCoding.ContractKey.camelCase(name) == nil, "\(name)")
        }
    }

    @Test("an older major version, registered with an upcast, reaches handlers as the current type")
    func upcastsOlderVersion() throws {
        var registry = EventRegistry([UnitOrderPlaced.self])
        registry.register(UnitOrderPlacedV1.self, upcastingTo: UnitOrderPlaced.self) { old in
            UnitOrderPlaced(customerName: old.customerName, amountMinor: old.amountMajor * 100, placedAt: unitInstant, giftNote: nil, lineItems: [])
        }
        #expect(registry.schemaVersions(of: "UnitOrderPlaced") == [1, 2])
        let old = try registry.decode(envelope(version: 1, payload: #"{"customer_name":"Ada","amount_major":3}"#))
        #expect(old as? UnitOrderPlaced == UnitOrderPlaced(customerName: "Ada", amountMinor: 300, placedAt: unitInstant, giftNote: nil, lineItems: []))
        _ = try registry.decode(envelope(version: 2, payload: validOrder))
        // The old version's own checks run, then the current type's on the result.
        #expect(throws: EnvelopeError("UnitOrderPlaced payload: amount_major must not be negative")) {
            try registry.decode(envelope(version: 1, payload: #"{"customer_name":"Ada","amount_major":-1}"#))
        }
        #expect(throws: EnvelopeError("UnitOrderPlaced payload: amount_minor must be positive")) {
            try registry.decode(envelope(version: 1, payload: #"{"customer_name":"Ada","amount_major":0}"#))
        }
        #expect(throws: EnvelopeError("unsupported schema_version 3 for UnitOrderPlaced (this consumer reads 1, 2)")) {
            try registry.decode(envelope(version: 3, payload: validOrder))
        }
        #expect(registry.topic(for: "UnitOrderPlaced") == "unit.orders")
    }
}

/// UnitOrderPlaced as its version 1 was: a breaking change (a renamed, rescaled amount) made version 2.
struct UnitOrderPlacedV1: SagaEvent, Hashable {
    static let eventType = "UnitOrderPlaced"
    static let schemaVersion = 1
    static let topic = "unit.orders"

    var customerName: String
    var amountMajor: Int

    func validate() throws {
        guard amountMajor >= 0 else { throw EventValidationError("amount_major must not be negative") }
    }
}
