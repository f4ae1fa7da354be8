import SagaKit

// Versions 1 of OrderPlaced and InventoryReserved, read (never written) for their deprecation window
// (schemas/README.md): until at least 7 days after the last release that wrote them, an outbox, a republish or a
// replay can still deliver them. They carried demo switches, `fail_payment` and `fail_confirmation`, which made a
// participant fail on purpose; version 2 removed them (a breaking change: they were required), and the failures
// became fault options of Payment and Notification. The upcast ignores the switches: an old event that asked for a
// failure is processed as an ordinary order unless the participant's fault option matches its id.

/// OrderPlaced as version 1 wrote it (`schemas/events/OrderPlaced.v1.schema.json`): version 2's fields and the two
/// switches, side by side in one JSON object.
public struct OrderPlacedV1: SagaEvent, Hashable {
    public static let eventType = OrderPlaced.eventType
    public static let schemaVersion = 1
    public static let topic = OrderPlaced.topic

    /// Everything but the switches: what `upcast` returns.
    public var order: OrderPlaced
    /// Read because version 1 requires it; ignored.
    public var failPayment: Bool
    /// Read because version 1 requires it; ignored.
    public var failConfirmation: Bool

    public init(orderID: String, sku: String, quantity: Int, amountCents: Int64, currency: String, customerEmail: String,
                failPayment: Bool, failConfirmation: Bool) {
        order = OrderPlaced(orderID: orderID, sku: sku, quantity: quantity, amountCents: amountCents, currency: currency, customerEmail: customerEmail)
        self.failPayment = failPayment
        self.failConfirmation = failConfirmation
    }

    enum CodingKeys: String, CodingKey { case failPayment, failConfirmation }

    public init(from decoder: any Decoder) throws {
        order = try OrderPlaced(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        failPayment = try container.decode(Bool.self, forKey: .failPayment)
        failConfirmation = try container.decode(Bool.self, forKey: .failConfirmation)
    }

    public func encode(to encoder: any Encoder) throws {
        try order.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(failPayment, forKey: .failPayment)
        try container.encode(failConfirmation, forKey: .failConfirmation)
    }

    public func validate() throws {
        try order.validate()
    }

    /// Version 2: the same order, without the switches.
    public func upcast() -> OrderPlaced { order }
}

/// InventoryReserved as version 1 wrote it (`schemas/events/InventoryReserved.v1.schema.json`): version 2's fields
/// and the switch, side by side in one JSON object.
public struct InventoryReservedV1: SagaEvent, Hashable {
    public static let eventType = InventoryReserved.eventType
    public static let schemaVersion = 1
    public static let topic = InventoryReserved.topic

    /// Everything but the switch: what `upcast` returns.
    public var reservation: InventoryReserved
    /// Read because version 1 requires it; ignored.
    public var failPayment: Bool

    public init(orderID: String, sku: String, quantity: Int, amountCents: Int64, currency: String, failPayment: Bool) {
        reservation = InventoryReserved(orderID: orderID, sku: sku, quantity: quantity, amountCents: amountCents, currency: currency)
        self.failPayment = failPayment
    }

    enum CodingKeys: String, CodingKey { case failPayment }

    public init(from decoder: any Decoder) throws {
        reservation = try InventoryReserved(from: decoder)
        failPayment = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .failPayment)
    }

    public func encode(to encoder: any Encoder) throws {
        try reservation.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(failPayment, forKey: .failPayment)
    }

    public func validate() throws {
        try reservation.validate()
    }

    /// Version 2: the same reservation, without the switch.
    public func upcast() -> InventoryReserved { reservation }
}
