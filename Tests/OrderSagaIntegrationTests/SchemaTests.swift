import Foundation
import OrderSaga
import OrderSagaFixtures
import SagaKit
import Testing
import TestSupport

/// The Swift types and the JSON Schemas describe the same contracts.
@Suite("Event contracts", .enabled(if: TestEnvironment.hasStack))
struct SchemaTests {
    @Test("every event type, as the Swift code encodes it, is valid against its schema")
    func swiftEventsAreValid() async throws {
        #expect(ContractSamples.samples.count == OrderSagaEvents.all.count, "a sample for every event type")
        try await SchemaValidator.expectValid(try ContractSamples.samples.map { try ContractSamples.envelope($0) } + [try ContractSamples.envelope(ContractSamples.samples[0], causation: nil)])
    }

    /// Payloads the schemas refuse, which the Swift consumers must refuse too (they would dead-letter them); nil
    /// version: the current one.
    static let invalid: [(String, String, Int?)] = [
        ("OrderPlaced", #"{"order_id":"O","sku":"s","quantity":1,"amount_cents":100,"currency":"USD"}"#, nil),
        ("OrderPlaced", #"{"order_id":"O","sku":"s","quantity":"1","amount_cents":100,"currency":"USD","customer_email":"a@b.c"}"#, nil),
        ("OrderPlaced", #"{"order_id":"O","sku":"s","quantity":1,"amount_cents":100,"currency":"usd","customer_email":"a@b.c"}"#, nil),
        ("OrderPlaced", #"{"order_id":"","sku":"s","quantity":1,"amount_cents":100,"currency":"USD","customer_email":"a@b.c"}"#, nil),
        ("InventoryReserved", #"{"order_id":"O","sku":"s","quantity":0,"amount_cents":100,"currency":"USD"}"#, nil),
        // Version 1, still read: its switches were required, and its other checks stand.
        ("OrderPlaced", #"{"order_id":"O","sku":"s","quantity":1,"amount_cents":100,"currency":"USD","customer_email":"a@b.c","fail_payment":false}"#, 1),
        ("OrderPlaced", #"{"order_id":"O","sku":"s","quantity":1,"amount_cents":100,"currency":"usd","customer_email":"a@b.c","fail_payment":false,"fail_confirmation":false}"#, 1),
        ("InventoryReserved", #"{"order_id":"O","sku":"s","quantity":1,"amount_cents":100,"currency":"USD"}"#, 1),
        ("InventoryReserved", #"{"order_id":"O","sku":"s","quantity":0,"amount_cents":100,"currency":"USD","fail_payment":false}"#, 1),
        ("PaymentCaptured", #"{"order_id":"O","charge_id":"c","amount_cents":0,"currency":"USD"}"#, nil),
        ("PaymentDeclined", #"{"order_id":"O","amount_cents":100,"currency":"USD","reason":""}"#, nil),
        ("ConfirmationFailed", #"{"order_id":"O"}"#, nil),
        ("ConfirmationSent", #"{"order_id":"O","message_id":null}"#, nil),
    ]

    @Test("payloads the schemas reject, the Swift decoder rejects too")
    func invalidPayloadsRejectedByBoth() async throws {
        let envelopes = Self.invalid.map { type, payload, version in
            String(decoding: EventEnvelope(eventType: type, schemaVersion: version ?? ContractCase.currentVersion(type), sagaID: "O",
                                           causationID: nil, producer: "test", payload: Array(payload.utf8)).encoded(), as: UTF8.self)
        }
        let results = try await SchemaValidator.validate(envelopes)
        for ((type, payload, _), (text, result)) in zip(Self.invalid, zip(envelopes, results)) {
            #expect(!result.valid, "the schema accepts \(type) \(payload)")
            let envelope = try EventEnvelope.decode(Array(text.utf8))
            #expect(throws: EnvelopeError.self, "Swift accepts \(type) \(payload)") { try OrderSagaEvents.registry.decode(envelope) }
        }
    }

    @Test("v1 → v2: a version 1 OrderPlaced or InventoryReserved with its switches is valid against the kept v1 schema and read by Swift")
    func version1StillAccepted() async throws {
        var order = try ContractCase.members(OrderPlaced.sample)
        order["fail_payment"] = .bool(true)
        order["fail_confirmation"] = .bool(false)
        var reserved = try ContractCase.members(InventoryReserved.sample)
        reserved["fail_payment"] = .bool(true)
        let cases = [("OrderPlaced", order), ("InventoryReserved", reserved)]
        let texts = cases.map { String(decoding: ContractCase.envelope($0.0, $0.1, version: 1), as: UTF8.self) }
        try await SchemaValidator.expectValid(texts)
        #expect(try ContractCase.decode("OrderPlaced", order, version: 1) as? OrderPlaced == OrderPlaced.sample)
        #expect(try ContractCase.decode("InventoryReserved", reserved, version: 1) as? InventoryReserved == InventoryReserved.sample)
        // The v2 schemas do not know the switches: to them they are unknown members, allowed and meaningless.
        try await SchemaValidator.expectValid(cases.map { String(decoding: ContractCase.envelope($0.0, $0.1), as: UTF8.self) })
    }

    @Test("envelopes the schema rejects, the Swift decoder rejects too")
    func invalidEnvelopesRejectedByBoth() async throws {
        let good = try ContractSamples.envelope(ContractSamples.samples[0])
        var object = try JSONSerialization.jsonObject(with: Data(good.utf8)) as! [String: Any]
        var cases: [String] = []
        for key in ["event_id", "event_type", "schema_version", "saga_id", "occurred_at", "causation_id", "producer", "payload"] {
            var copy = object
            copy.removeValue(forKey: key)
            cases.append(String(decoding: try JSONSerialization.data(withJSONObject: copy), as: UTF8.self))
        }
        for (key, value) in [("event_id", "not-a-uuid"), ("occurred_at", "yesterday"), ("schema_version", "1"), ("saga_id", "")] as [(String, Any)] {
            var copy = object
            copy[key] = value
            cases.append(String(decoding: try JSONSerialization.data(withJSONObject: copy), as: UTF8.self))
        }
        object["payload"] = [1, 2]
        cases.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        let results = try await SchemaValidator.validate(cases)
        for (text, result) in zip(cases, results) {
            #expect(!result.valid, "the schema accepts \(text)")
            #expect(throws: EnvelopeError.self, "Swift accepts \(text)") { try EventEnvelope.decode(Array(text.utf8)) }
        }
    }

    // MARK: - Compatibility (schemas/README.md): both directions, and breaking changes

    @Test("forward: unknown payload and envelope members are accepted by the schemas and the Swift decoder")
    func forwardCompatible() async throws {
        var cases: [String] = []
        for sample in ContractSamples.samples {
            var payload = try ContractCase.members(sample)
            payload["added_in_a_later_release"] = .object(["nested": .bool(true)])
            cases.append(String(decoding: ContractCase.envelope(type(of: sample).eventType, payload), as: UTF8.self))
        }
        cases.append("{\"tenant\":\"acme\"," + (try ContractSamples.envelope(ContractSamples.samples[0])).dropFirst())
        cases.append(String(decoding: try EventEnvelope(OrderPlacedWithGiftMessage(.sample, giftMessage: "hi"), sagaID: "ORD-1",
                                                        causationID: nil, producer: "tracker").encoded(), as: UTF8.self))
        try await SchemaValidator.expectValid(cases)
        for text in cases {
            #expect(throws: Never.self, "Swift refuses \(text)") { try OrderSagaEvents.registry.decode(EventEnvelope.decode(Array(text.utf8))) }
        }
    }

    @Test("backward: a schema with an added optional member accepts what the current writer writes")
    func backwardCompatible() async throws {
        let evolved = try Self.evolvedSchemas()
        defer { try? FileManager.default.removeItem(at: evolved) }
        var payload = try ContractCase.members(OrderPlaced.sample)
        var cases = [String(decoding: ContractCase.envelope("OrderPlaced", payload), as: UTF8.self)]
        payload["gift_message"] = .null
        cases.append(String(decoding: ContractCase.envelope("OrderPlaced", payload), as: UTF8.self))
        payload["gift_message"] = .string("Happy birthday")
        cases.append(String(decoding: ContractCase.envelope("OrderPlaced", payload), as: UTF8.self))
        for (result, text) in zip(try await SchemaValidator.validate(cases, schemas: evolved), cases) {
            #expect(result.valid, "the evolved schema refuses \(text): \(result.errors)")
        }
        // The evolution itself is checked: a value of the wrong type for the new member is still refused.
        payload["gift_message"] = .integer(1)
        let wrong = String(decoding: ContractCase.envelope("OrderPlaced", payload), as: UTF8.self)
        #expect(try await SchemaValidator.validate([wrong], schemas: evolved)[0].valid == false)
    }

    @Test("breaking: a missing required member, a retyped member or an unknown schema_version is refused by both, with a reason")
    func breakingChangesRefused() async throws {
        // Each case: the envelope, the reason the schema must give, and the one Swift gives (nil: accepted).
        var cases: [(text: String, schemaReason: String, swift: String?)] = []
        for sample in ContractSamples.samples {
            let eventType = type(of: sample).eventType
            let payload = try ContractCase.members(sample)
            for key in payload.keys.sorted() {
                var missing = payload
                missing[key] = nil
                cases.append((String(decoding: ContractCase.envelope(eventType, missing), as: UTF8.self),
                              "payload: '\(key)' is a required property", ContractCase.failure(eventType, missing)))
                var retyped = payload
                retyped[key] = payload[key]!.ofWrongType
                cases.append((String(decoding: ContractCase.envelope(eventType, retyped), as: UTF8.self),
                              "payload.\(key): ", ContractCase.failure(eventType, retyped)))
            }
            let next = type(of: sample).schemaVersion + 1
            let exist = (1..<next).map(String.init).joined(separator: ", ")
            cases.append((String(decoding: ContractCase.envelope(eventType, payload, version: next), as: UTF8.self),
                          "unsupported schema_version \(next) for \(eventType) (schemas exist for \(exist))",
                          ContractCase.failure(eventType, payload, version: next)))
        }
        let results = try await SchemaValidator.validate(cases.map(\.text))
        for (result, (text, reason, swift)) in zip(results, cases) {
            #expect(!result.valid && result.errors.contains { $0.hasPrefix(reason) }, "the schema accepts \(text) or does not say \(reason): \(result.errors)")
            #expect(swift != nil, "Swift accepts \(text)")
        }
        let version2 = try #require(results.last)
        let lastReason = try #require(cases.last?.1)
        #expect(lastReason.hasPrefix("unsupported schema_version 2 for "))
        #expect(version2.errors == [lastReason], "an unknown version is the only error, said once")
    }

    /// A copy of `schemas/` in which OrderPlaced v2 gained an optional `gift_message`, as a compatible change would
    /// add it.
    static func evolvedSchemas() throws -> URL {
        let files = FileManager.default
        let root = files.temporaryDirectory.appendingPathComponent("sagakit-schemas-\(UUID().uuidString.prefix(8))")
        try files.copyItem(at: TestEnvironment.repositoryRoot.appendingPathComponent("schemas"), to: root)
        let file = root.appendingPathComponent("events/OrderPlaced.v\(OrderPlaced.schemaVersion).schema.json")
        var schema = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        var properties = schema["properties"] as! [String: Any]
        properties["gift_message"] = ["type": ["string", "null"], "maxLength": 500]
        schema["properties"] = properties
        try JSONSerialization.data(withJSONObject: schema).write(to: file)
        return root
    }
}
