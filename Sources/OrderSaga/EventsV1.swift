import SagaKit

// Versions 1 of OrderPlaced and InventoryReserved, read (never written) for their deprecation window
// (schemas/README.md): until at least 7 days after the last release that wrote them, an outbox, a republish or a
// replay can still deliver them. They carried demo switches, `fail_payment` and `fail_confirmation`, which made a
// participant fail on purpose; version 2 removed them (a breaking change: they were required), and the failures
// became fault options of Payment and Notification. The upcast ignores the switches: an old event that asked for a
// failure is processed as an ordinary order unless the participant's fault option matches its id.

/// OrderPlaced as version 1 wrote it (`schemas/events/OrderPlaced.v1.schema.json`).
public struct OrderPlacedV1: SagaEvent, Hashable {
    public static let eventType = OrderPlaced.eventType
    public static let schemaVersion = 1
    public static let topic = OrderPlaced.topic

    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amountCents: Int64
    public var currency: String
    public var customerEmail: String
    /// Read because version 1 requires it; ignored.
    public var failPayment: Bool
    /// Read because version 1 requires it; ignored.
    public var failConfirmation: Bool

    public init(orderID: String, sku: String, quantity: Int, amountCents: Int64, currency: String, customerEmail: String,
                failPayment: Bool, failConfirmation: Bool) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.amountCents = amountCents
        self.currency = currency
        self.customerEmail = customerEmail
        self.failPayment = failPayment
        self.failConfirmation = failConfirmation
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "orderId", sku, quantity, amountCents, currency, customerEmail, failPayment, failConfirmation
    }

    public func validate() throws {
        try upcast().validate()
    }

    /// Version 2: the same order, without the switches.
    public func upcast() -> OrderPlaced {
        OrderPlaced(orderID: orderID, sku: sku, quantity: quantity, amountCents: amountCents, currency: currency, customerEmail: customerEmail)
    }
}

/// InventoryReserved as version 1 wrote it (`schemas/events/InventoryReserved.v1.schema.json`).
public struct InventoryReservedV1: SagaEvent, Hashable {
    public static let eventType = InventoryReserved.eventType
    public static let schemaVersion = 1
    public static let topic = InventoryReserved.topic

    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amountCents: Int64
    public var currency: String
    /// Read because version 1 requires it; ignored.
    public var failPayment: Bool

    public init(orderID: String, sku: String, quantity: Int, amountCents: Int64, currency: String, failPayment: Bool) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.amountCents = amountCents
        self.currency = currency
        self.failPayment = failPayment
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "orderId", sku, quantity, amountCents, currency, failPayment
    }

    public func validate() throws {
        try upcast().validate()
    }

    /// Version 2: the same reservation, without the switch.
    public func upcast() -> InventoryReserved {
        InventoryReserved(orderID: orderID, sku: sku, quantity: quantity, amountCents: amountCents, currency: currency)
    }
}
