import Foundation
import OrderSaga
import OrderSagaFixtures
import SagaKit
import Testing
import TestSupport

/// The compatibility policy of schemas/README.md, on the Swift side: no stack, no Python. `SchemaTests` runs the
/// same cases through the JSON Schemas.
@Suite("Contract compatibility (Swift decoder)")
struct ContractCompatibilityTests {
    // MARK: - Forward: an old reader, a newer writer

    @Test("every event with payload members this reader does not know decodes to the same event")
    func unknownPayloadMembersIgnored() throws {
        for sample in ContractSamples.samples {
            var payload = try ContractCase.members(sample)
            payload["added_in_a_later_release"] = .string("x")
            payload["later_object"] = .object(["nested": .integer(1)])
            let decoded = try ContractCase.decode(type(of: sample).eventType, payload)
            #expect(try EventCoding.encodePayload(decoded) == EventCoding.encodePayload(sample), "\(type(of: sample).eventType)")
        }
    }

    @Test("an envelope with members this reader does not know decodes")
    func unknownEnvelopeMembersIgnored() throws {
        let text = try ContractSamples.envelope(ContractSamples.samples[0])
        let extended = "{\"tenant\":\"acme\",\"trace\":{\"sampled\":true}," + text.dropFirst()
        let envelope = try EventEnvelope.decode(Array(extended.utf8))
        #expect(envelope.eventType == "OrderPlaced")
        _ = try OrderSagaEvents.registry.decode(envelope)
    }

    @Test("a newer writer's optional member reaches an old reader as nothing, not as an error")
    func newerWriterOldReader() throws {
        let newer = OrderPlacedWithGiftMessage(OrderPlaced.sample, giftMessage: "Happy birthday")
        let envelope = try EventEnvelope(newer, sagaID: "ORD-1", causationID: nil, producer: "tracker")
        let decoded = try #require(try OrderSagaEvents.registry.decode(EventEnvelope.decode(envelope.encoded())) as? OrderPlaced)
        #expect(decoded == OrderPlaced.sample)
    }

    // MARK: - Backward: a newer reader, an older writer

    @Test("a newer reader with an added optional member reads what the current writer wrote, with or without it")
    func olderWriterNewerReader() throws {
        var registry = EventRegistry()
        registry.register(OrderPlacedWithGiftMessage.self)
        func read(_ payload: [String: ContractCase.Value]) throws -> OrderPlacedWithGiftMessage {
            let envelope = EventEnvelope(eventType: "OrderPlaced", schemaVersion: OrderPlaced.schemaVersion, sagaID: "ORD-1", causationID: nil, producer: "tracker",
                                         payload: ContractCase.text(payload))
            return try #require(try registry.decode(EventEnvelope.decode(envelope.encoded())) as? OrderPlacedWithGiftMessage)
        }
        var payload = try ContractCase.members(OrderPlaced.sample)
        #expect(try read(payload) == OrderPlacedWithGiftMessage(OrderPlaced.sample, giftMessage: nil))
        payload["gift_message"] = .null
        #expect(try read(payload) == OrderPlacedWithGiftMessage(OrderPlaced.sample, giftMessage: nil))
        payload["gift_message"] = .string("hi")
        #expect(try read(payload) == OrderPlacedWithGiftMessage(OrderPlaced.sample, giftMessage: "hi"))
    }

    // MARK: - Breaking changes are refused, with a reason

    @Test("every required member, removed, is refused and named")
    func missingRequiredMember() throws {
        for sample in ContractSamples.samples {
            let eventType = type(of: sample).eventType
            let payload = try ContractCase.members(sample)
            for key in payload.keys.sorted() {
                var broken = payload
                broken[key] = nil
                #expect(ContractCase.failure(eventType, broken) == "\(eventType) payload: missing \(key)")
            }
        }
    }

    @Test("an id (order_id, sku, charge_id, refund_id, message_id) with a control character is refused and named")
    func controlCharacterInID() throws {
        var checked = 0
        for sample in ContractSamples.samples {
            let eventType = type(of: sample).eventType
            let payload = try ContractCase.members(sample)
            for key in ["order_id", "sku", "charge_id", "refund_id", "message_id"] {
                guard case .string(let id)? = payload[key] else { continue }
                // libpq would cut the NUL one to `id`: the event would act on another order.
                for bad in [id + "\u{0}x", id + "\n", "\u{7F}" + id] {
                    var broken = payload
                    broken[key] = .string(bad)
                    #expect(ContractCase.failure(eventType, broken) == "\(eventType) payload: \(key) must not contain control characters")
                }
                checked += 1
            }
        }
        #expect(checked >= 13, "every event has an order_id")
    }

    @Test("every member with a value of the wrong type is refused and named")
    func wrongType() throws {
        for sample in ContractSamples.samples {
            let eventType = type(of: sample).eventType
            let payload = try ContractCase.members(sample)
            for key in payload.keys.sorted() {
                var broken = payload
                broken[key] = payload[key]!.ofWrongType
                let failure = try #require(ContractCase.failure(eventType, broken), "\(eventType).\(key) of the wrong type accepted")
                #expect(failure.hasPrefix("\(eventType) payload: \(key) must be"), "\(failure)")
            }
        }
    }

    @Test("a schema_version the consumer does not read is refused, naming the versions it reads")
    func unknownSchemaVersion() throws {
        for sample in ContractSamples.samples {
            let kind = type(of: sample)
            let next = kind.schemaVersion + 1
            let reads = (1...kind.schemaVersion).map(String.init).joined(separator: ", ")
            #expect(ContractCase.failure(kind.eventType, try ContractCase.members(sample), version: next)
                == "unsupported schema_version \(next) for \(kind.eventType) (this consumer reads \(reads))")
        }
    }

    // MARK: - A breaking change by the policy: OrderPlaced and InventoryReserved v1 → v2

    @Test("a v1 OrderPlaced or InventoryReserved with the old demo switches is still read, as the v2 event without them")
    func version1UpcastsToVersion2() throws {
        #expect(OrderSagaEvents.registry.schemaVersions(of: "OrderPlaced") == [1, 2])
        #expect(OrderSagaEvents.registry.schemaVersions(of: "InventoryReserved") == [1, 2])
        for (failPayment, failConfirmation) in [(false, false), (true, false), (false, true), (true, true)] {
            var order = try ContractCase.members(OrderPlaced.sample)
            order["fail_payment"] = .bool(failPayment)
            order["fail_confirmation"] = .bool(failConfirmation)
            #expect(try ContractCase.decode("OrderPlaced", order, version: 1) as? OrderPlaced == OrderPlaced.sample, "the switches are ignored")
            var reserved = try ContractCase.members(InventoryReserved.sample)
            reserved["fail_payment"] = .bool(failPayment)
            #expect(try ContractCase.decode("InventoryReserved", reserved, version: 1) as? InventoryReserved == InventoryReserved.sample)
        }
        // Version 1 as it was: its switches were required, and its checks still apply.
        var order = try ContractCase.members(OrderPlaced.sample)
        order["fail_payment"] = .bool(false)
        #expect(ContractCase.failure("OrderPlaced", order, version: 1) == "OrderPlaced payload: missing fail_confirmation")
        order["fail_confirmation"] = .string("no")
        #expect(ContractCase.failure("OrderPlaced", order, version: 1) == "OrderPlaced payload: fail_confirmation must be a boolean")
        order["fail_confirmation"] = .bool(false)
        order["currency"] = .string("usd")
        #expect(ContractCase.failure("OrderPlaced", order, version: 1) == "OrderPlaced payload: currency must be a three-letter ISO 4217 code")
        #expect(ContractCase.failure("InventoryReserved", try ContractCase.members(InventoryReserved.sample), version: 1)
            == "InventoryReserved payload: missing fail_payment")
        // A v2 reader ignores the old members if a writer still sends them: they are unknown members now.
        order["currency"] = .string("USD")
        #expect(try ContractCase.decode("OrderPlaced", order) as? OrderPlaced == OrderPlaced.sample)
    }

    @Test("producers write version 2 of the changed events, without the switches")
    func producersWriteVersion2() throws {
        #expect(OrderPlaced.schemaVersion == 2 && InventoryReserved.schemaVersion == 2)
        let envelope = try EventEnvelope(OrderPlaced.sample, sagaID: "ORD-1", causationID: nil, producer: "tracker")
        #expect(envelope.schemaVersion == 2)
        let members = Set(try ContractCase.members(OrderPlaced.sample).keys).union(try ContractCase.members(InventoryReserved.sample).keys)
        #expect(members.allSatisfy { !$0.hasPrefix("fail") }, "\(members.sorted())")
    }

    @Test("a member is known only in its exact snake_case spelling")
    func exactSpellingOnly() throws {
        var payload = try ContractCase.members(OrderPlaced.sample)
        let orderID = payload.removeValue(forKey: "order_id")!
        for alias in ["orderId", "order__id", "_order_id", "Order_Id", "ORDER_ID"] {
            var aliased = payload
            aliased[alias] = orderID
            #expect(ContractCase.failure("OrderPlaced", aliased) == "OrderPlaced payload: missing order_id", "\(alias)")
        }
        // With the real member present, a look-alike is an unknown member: ignored, as every other reader ignores it.
        payload["order_id"] = orderID
        payload["orderId"] = .string("ORD-OTHER")
        let decoded = try #require(try ContractCase.decode("OrderPlaced", payload) as? OrderPlaced)
        #expect(decoded.orderID == OrderPlaced.sample.orderID)
    }

    // MARK: - The schema files say the same

    @Test("each schema's required members are exactly the members the Swift type writes, and unknown ones are allowed")
    func schemasMatchTypes() throws {
        let envelope = try ContractCase.schema("envelope.schema.json")
        #expect(envelope.additionalProperties == true)
        for sample in ContractSamples.samples {
            let kind = type(of: sample)
            let schema = try ContractCase.schema("events/\(kind.eventType).v\(kind.schemaVersion).schema.json")
            let written = Set(try ContractCase.members(sample).keys)
            #expect(Set(schema.required) == written, "\(kind.eventType): schema requires \(schema.required.sorted()), Swift writes \(written.sorted())")
            #expect(Set(schema.properties.keys) == written, "\(kind.eventType): every member described, and only those")
            #expect(schema.additionalProperties == true, "\(kind.eventType) must let readers ignore unknown members")
        }
    }
}

/// The schema files' required and described members, for comparing them with what the Swift types write.
extension ContractCase {
    struct Schema: Decodable {
        var required: [String] = []
        var properties: [String: Property] = [:]
        var additionalProperties: Bool?

        struct Property: Decodable {}

        enum CodingKeys: CodingKey { case required, properties, additionalProperties }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            required = try c.decodeIfPresent([String].self, forKey: .required) ?? []
            properties = try c.decodeIfPresent([String: Property].self, forKey: .properties) ?? [:]
            additionalProperties = try c.decodeIfPresent(Bool.self, forKey: .additionalProperties)
        }
    }

    static func schema(_ path: String) throws -> Schema {
        let url = TestEnvironment.repositoryRoot.appendingPathComponent("schemas").appendingPathComponent(path)
        return try JSONDecoder().decode(Schema.self, from: Data(contentsOf: url))
    }
}
