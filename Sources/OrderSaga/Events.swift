import SagaKit

/// The order-fulfilment saga's contracts: topics, event payloads and step names. Every service and the tracker
/// read and write exactly these; `schemas/events/*.schema.json` says the same for other languages.
///
/// Money is in integer minor units (cents) with an ISO 4217 currency code. Only `OrderPlaced` carries the
/// customer's email: Notification is the one step that needs it, and it reads it from there.
public enum OrderSagaTopics {
    public static let orders = "orders"
    public static let inventory = "inventory"
    public static let payment = "payment"
    public static let notification = "notification"
    public static let all = [orders, inventory, payment, notification]
}

/// The saga's forward steps and compensations, as the tracker names them.
public enum SagaStep: String, Sendable, Codable, CaseIterable {
    case reserveInventory = "reserve_inventory"
    case chargePayment = "charge_payment"
    case sendConfirmation = "send_confirmation"
    case refundPayment = "refund_payment"
    case releaseInventory = "release_inventory"
}

/// Tracker → everyone: a customer placed an order; the saga starts. The order id is the saga id.
///
/// Version 2 dropped version 1's demo switches (`OrderPlacedV1`, still read, upcast to this type).
public struct OrderPlaced: SagaEvent, Hashable {
    public static let eventType = "OrderPlaced"
    public static let schemaVersion = 2
    public static let topic = OrderSagaTopics.orders

    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amountCents: Int64
    public var currency: String
    public var customerEmail: String

    public init(orderID: String, sku: String, quantity: Int, amountCents: Int64, currency: String, customerEmail: String) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.amountCents = amountCents
        self.currency = currency
        self.customerEmail = customerEmail
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "orderId", sku, quantity, amountCents, currency, customerEmail
    }

    public func validate() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.identifier(sku, "sku")
        try Validate.currency(currency)
        guard customerEmail.utf8.count <= 254 else { throw EventValidationError("customer_email is longer than 254 bytes") }
    }
}

/// Inventory: stock is held for the order. Carries what Payment needs to charge.
///
/// Version 2 dropped version 1's demo switch (`InventoryReservedV1`, still read, upcast to this type).
public struct InventoryReserved: SagaEvent, Hashable {
    public static let eventType = "InventoryReserved"
    public static let schemaVersion = 2
    public static let topic = OrderSagaTopics.inventory

    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amountCents: Int64
    public var currency: String

    public init(orderID: String, sku: String, quantity: Int, amountCents: Int64, currency: String) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.amountCents = amountCents
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey {
        case orderID = "orderId", sku, quantity, amountCents, currency
    }

    public func validate() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.identifier(sku, "sku")
        try Validate.currency(currency)
        guard quantity >= 1 else { throw EventValidationError("quantity must be at least 1") }
    }
}

/// Inventory: the order cannot be served (unknown SKU, not enough stock, invalid quantity). Nothing was held.
public struct InventoryRejected: OrderReasonEvent, Hashable {
    public static let eventType = "InventoryRejected"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.inventory

    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var reason: String

    public init(orderID: String, sku: String, quantity: Int, reason: String) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", sku, quantity, reason }

    public func validate() throws {
        try validateReason()
        try Validate.identifier(sku, "sku")
    }
}

/// Inventory's compensation: the held stock is available again.
public struct InventoryReleased: SagaEvent, Hashable {
    public static let eventType = "InventoryReleased"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.inventory

    public var orderID: String
    public var sku: String
    public var quantity: Int
    /// What triggered the release: `PaymentDeclined` or `PaymentRefunded`.
    public var trigger: String

    public init(orderID: String, sku: String, quantity: Int, trigger: String) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.trigger = trigger
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", sku, quantity, trigger }

    public func validate() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.identifier(sku, "sku")
        guard quantity >= 1 else { throw EventValidationError("quantity must be at least 1") }
    }
}

/// Payment: the amount was captured.
public struct PaymentCaptured: SagaEvent, Hashable {
    public static let eventType = "PaymentCaptured"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.payment

    public var orderID: String
    public var chargeID: String
    public var amountCents: Int64
    public var currency: String

    public init(orderID: String, chargeID: String, amountCents: Int64, currency: String) {
        self.orderID = orderID
        self.chargeID = chargeID
        self.amountCents = amountCents
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", chargeID = "chargeId", amountCents, currency }

    public func validate() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.token(chargeID, "charge_id")
        try Validate.currency(currency)
        guard amountCents > 0 else { throw EventValidationError("amount_cents must be positive") }
    }
}

/// Payment: the charge was refused. Nothing was captured.
public struct PaymentDeclined: OrderReasonEvent, Hashable {
    public static let eventType = "PaymentDeclined"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.payment

    public var orderID: String
    public var amountCents: Int64
    public var currency: String
    public var reason: String

    public init(orderID: String, amountCents: Int64, currency: String, reason: String) {
        self.orderID = orderID
        self.amountCents = amountCents
        self.currency = currency
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", amountCents, currency, reason }
}

/// Payment's compensation: the captured amount was refunded.
public struct PaymentRefunded: SagaEvent, Hashable {
    public static let eventType = "PaymentRefunded"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.payment

    public var orderID: String
    public var chargeID: String
    public var refundID: String
    public var amountCents: Int64
    public var currency: String

    public init(orderID: String, chargeID: String, refundID: String, amountCents: Int64, currency: String) {
        self.orderID = orderID
        self.chargeID = chargeID
        self.refundID = refundID
        self.amountCents = amountCents
        self.currency = currency
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", chargeID = "chargeId", refundID = "refundId", amountCents, currency }

    public func validate() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.token(chargeID, "charge_id")
        try Validate.token(refundID, "refund_id")
        try Validate.currency(currency)
    }
}

/// Notification: the confirmation was delivered. The saga is complete.
public struct ConfirmationSent: SagaEvent, Hashable {
    public static let eventType = "ConfirmationSent"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.notification

    public var orderID: String
    public var messageID: String

    public init(orderID: String, messageID: String) {
        self.orderID = orderID
        self.messageID = messageID
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", messageID = "messageId" }

    public func validate() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.token(messageID, "message_id")
    }
}

/// Notification: the confirmation could not be delivered; Payment refunds, then Inventory releases.
public struct ConfirmationFailed: OrderReasonEvent, Hashable {
    public static let eventType = "ConfirmationFailed"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.notification

    public var orderID: String
    public var reason: String

    public init(orderID: String, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", reason }
}

/// Payment could not refund (the provider rejected it, or no captured charge to refund) and parked the refund: an
/// operator must retry or skip it (`payment-service compensations`).
public struct PaymentRefundFailed: OrderReasonEvent, Hashable {
    public static let eventType = "PaymentRefundFailed"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.payment

    public var orderID: String
    public var reason: String

    public init(orderID: String, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", reason }
}

/// Inventory could not release (no held stock for the order, or it was already fulfilled) and parked the release: an
/// operator must retry or skip it (`inventory-service compensations`).
public struct InventoryReleaseFailed: OrderReasonEvent, Hashable {
    public static let eventType = "InventoryReleaseFailed"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.inventory

    public var orderID: String
    public var reason: String

    public init(orderID: String, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", reason }
}

/// Payment: an operator decided the parked refund will not happen (refunded outside the system, or accepted), and
/// why. The compensation is settled: Inventory releases next, as after a refund.
public struct PaymentRefundSkipped: OrderReasonEvent, Hashable {
    public static let eventType = "PaymentRefundSkipped"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.payment

    public var orderID: String
    /// The operator's reason.
    public var reason: String
    /// Who decided.
    public var skippedBy: String

    public init(orderID: String, reason: String, skippedBy: String) {
        self.orderID = orderID
        self.reason = reason
        self.skippedBy = skippedBy
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", reason, skippedBy }

    public func validate() throws {
        try validateReason()
        try Validate.nonEmpty(skippedBy, "skipped_by")
    }
}

/// Inventory: an operator decided the parked release will not happen (restocked by hand, or accepted), and why.
/// The saga's compensation is settled.
public struct InventoryReleaseSkipped: OrderReasonEvent, Hashable {
    public static let eventType = "InventoryReleaseSkipped"
    public static let schemaVersion = 1
    public static let topic = OrderSagaTopics.inventory

    public var orderID: String
    /// The operator's reason.
    public var reason: String
    /// Who decided.
    public var skippedBy: String

    public init(orderID: String, reason: String, skippedBy: String) {
        self.orderID = orderID
        self.reason = reason
        self.skippedBy = skippedBy
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", reason, skippedBy }

    public func validate() throws {
        try validateReason()
        try Validate.nonEmpty(skippedBy, "skipped_by")
    }
}

public enum OrderSagaEvents {
    /// Every event type of the saga, at the version producers write.
    public static let all: [any SagaEvent.Type] = [
        OrderPlaced.self, InventoryReserved.self, InventoryRejected.self, InventoryReleased.self,
        PaymentCaptured.self, PaymentDeclined.self, PaymentRefunded.self,
        ConfirmationSent.self, ConfirmationFailed.self, PaymentRefundFailed.self, InventoryReleaseFailed.self,
        PaymentRefundSkipped.self, InventoryReleaseSkipped.self,
    ]

    /// Older versions still read, for their deprecation window (schemas/README.md).
    public static let registry: EventRegistry = {
        var registry = EventRegistry(all)
        registry.register(OrderPlacedV1.self, upcastingTo: OrderPlaced.self) { $0.upcast() }
        registry.register(InventoryReservedV1.self, upcastingTo: InventoryReserved.self) { $0.upcast() }
        return registry
    }()
}

/// An event that says why an order could not go on as planned, or why an operator settled it: the order and a
/// reason, which the tracker shows as the saga's error or the operator's note. Both are checked alike.
public protocol OrderReasonEvent: SagaEvent {
    var orderID: String { get }
    var reason: String { get }
}

extension OrderReasonEvent {
    public func validate() throws {
        try validateReason()
    }

    /// What every reason event checks; one with more fields checks them after.
    func validateReason() throws {
        try Validate.identifier(orderID, "order_id")
        try Validate.nonEmpty(reason, "reason")
    }
}

enum Validate {
    static func identifier(_ value: String, _ name: String) throws {
        guard !value.isEmpty, value.utf8.count <= 128 else { throw EventValidationError("\(name) must be 1 to 128 characters") }
        try noControlCharacter(value, name)
    }

    static func nonEmpty(_ value: String, _ name: String) throws {
        guard !value.isEmpty else { throw EventValidationError("\(name) must not be empty") }
    }

    /// For ids the services make up (charge, refund, message ids): any length, no control characters. Free text
    /// (reasons, an operator's name) is only required to be there.
    static func token(_ value: String, _ name: String) throws {
        try nonEmpty(value, name)
        try noControlCharacter(value, name)
    }

    /// A NUL would reach PostgreSQL cut short (an id `A\0B` acting on `A`); the intake refuses every control
    /// character in what it accepts, and so does every reader of an event.
    static func noControlCharacter(_ value: String, _ name: String) throws {
        guard !InputChecks.hasControlCharacter(value) else { throw EventValidationError("\(name) must not contain control characters") }
    }

    static func currency(_ value: String) throws {
        guard value.utf8.count == 3, value.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw EventValidationError("currency must be a three-letter ISO 4217 code")
        }
    }
}
