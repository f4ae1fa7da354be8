import Foundation
import OrderSaga
import SagaKit

/// One sample of every order saga event, and the envelope its producer writes: the cases the contract tests share,
/// ContractCompatibilityTests (the Swift decoder, no stack) and SchemaTests (the JSON Schemas, through Python).
public enum ContractSamples {
    public static let samples: [any SagaEvent] = [
        OrderPlaced(orderID: "ORD-1", sku: "demo-widget", quantity: 2, amountCents: 5999, currency: "USD", customerEmail: "a@example.com"),
        InventoryReserved(orderID: "ORD-1", sku: "demo-widget", quantity: 2, amountCents: 5999, currency: "USD"),
        InventoryRejected(orderID: "ORD-1", sku: "nope", quantity: 2, reason: "unknown SKU nope"),
        InventoryReleased(orderID: "ORD-1", sku: "demo-widget", quantity: 2, trigger: "PaymentRefunded"),
        InventoryReleaseFailed(orderID: "ORD-1", reason: "no reservation"),
        PaymentCaptured(orderID: "ORD-1", chargeID: UUID().uuidString.lowercased(), amountCents: 5999, currency: "USD"),
        PaymentDeclined(orderID: "ORD-1", amountCents: 0, currency: "EUR", reason: "amount 0.00 EUR is not positive"),
        PaymentRefunded(orderID: "ORD-1", chargeID: "c", refundID: "r", amountCents: 5999, currency: "USD"),
        PaymentRefundFailed(orderID: "ORD-1", reason: "no captured payment"),
        ConfirmationSent(orderID: "ORD-1", messageID: "ORD-1.confirmation@sagakit.invalid"),
        ConfirmationFailed(orderID: "ORD-1", reason: "Confirmation dispatch failed for order ORD-1"),
        PaymentRefundSkipped(orderID: "ORD-1", reason: "refunded by hand", skippedBy: "ops"),
        InventoryReleaseSkipped(orderID: "ORD-1", reason: "restocked by hand", skippedBy: "ops"),
    ]

    public static func envelope(_ event: any SagaEvent, causation: UUID? = UUID()) throws -> String {
        func wrap<E: SagaEvent>(_ event: E) throws -> EventEnvelope {
            try EventEnvelope(event, sagaID: "ORD-1", causationID: causation, producer: "test")
        }
        return String(decoding: try wrap(event).encoded(), as: UTF8.self)
    }
}

extension OrderPlaced {
    public static let sample = ContractSamples.samples[0] as! OrderPlaced
}

extension InventoryReserved {
    public static let sample = ContractSamples.samples[1] as! InventoryReserved
}

/// OrderPlaced v2 as a later release might define it: one optional member added, which is a compatible change.
/// Test-only: no such member exists yet.
public struct OrderPlacedWithGiftMessage: SagaEvent, Hashable {
    public static let eventType = OrderPlaced.eventType
    public static let schemaVersion = OrderPlaced.schemaVersion
    public static let topic = OrderPlaced.topic

    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amountCents: Int64
    public var currency: String
    public var customerEmail: String
    public var giftMessage: String?

    public init(_ order: OrderPlaced, giftMessage: String?) {
        orderID = order.orderID
        sku = order.sku
        quantity = order.quantity
        amountCents = order.amountCents
        currency = order.currency
        customerEmail = order.customerEmail
        self.giftMessage = giftMessage
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "orderId", sku, quantity, amountCents, currency, customerEmail, giftMessage
    }
}

/// Payloads as members, to remove or retype one, and the registry's verdict on them.
public enum ContractCase {
    /// The JSON values payloads hold.
    public enum Value: Codable, Equatable {
        case string(String), integer(Int64), bool(Bool), null
        indirect case object([String: Value])

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int64.self) { self = .integer(value) }
            else if let value = try? container.decode(String.self) { self = .string(value) }
            else { self = .object(try container.decode([String: Value].self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let value): try container.encode(value)
            case .integer(let value): try container.encode(value)
            case .bool(let value): try container.encode(value)
            case .null: try container.encodeNil()
            case .object(let value): try container.encode(value)
            }
        }

        /// A value of another JSON type, as a writer that retyped the member would send.
        public var ofWrongType: Value {
            switch self {
            case .string: .integer(12345)
            case .integer(let value): .string(String(value))
            case .bool(let value): .string(String(value))
            case .null, .object: .string("x")
            }
        }
    }

    public static func members(_ event: any SagaEvent) throws -> [String: Value] {
        try JSONDecoder().decode([String: Value].self, from: Data(EventCoding.encodePayload(event)))
    }

    public static func text(_ payload: [String: Value]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try! encoder.encode(payload))
    }

    /// The version producers write now.
    public static func currentVersion(_ eventType: String) -> Int {
        OrderSagaEvents.all.first { $0.eventType == eventType }?.schemaVersion ?? 1
    }

    /// `version` nil: the current one.
    public static func envelope(_ eventType: String, _ payload: [String: Value], version: Int? = nil) -> [UInt8] {
        EventEnvelope(eventType: eventType, schemaVersion: version ?? currentVersion(eventType), sagaID: "ORD-1", causationID: nil, producer: "test",
                      payload: text(payload)).encoded()
    }

    public static func decode(_ eventType: String, _ payload: [String: Value], version: Int? = nil) throws -> any SagaEvent {
        try OrderSagaEvents.registry.decode(EventEnvelope.decode(envelope(eventType, payload, version: version)))
    }

    /// The reason the order saga's consumers would give for dead-lettering it, or nil if they accept it.
    public static func failure(_ eventType: String, _ payload: [String: Value], version: Int? = nil) -> String? {
        do {
            _ = try decode(eventType, payload, version: version)
            return nil
        } catch let error as EnvelopeError {
            return error.message
        } catch {
            return "\(error)"
        }
    }
}
