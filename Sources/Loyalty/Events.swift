import SagaKit

/// Loyalty's topic: the one topic it writes, and the only writer of it.
public enum LoyaltyTopics {
    public static let loyalty = "loyalty"
}

/// Loyalty: points were awarded for a captured payment.
public struct LoyaltyPointsAwarded: SagaEvent, Hashable {
    public static let eventType = "LoyaltyPointsAwarded"
    public static let schemaVersion = 1
    public static let topic = LoyaltyTopics.loyalty

    public var orderID: String
    public var chargeID: String
    public var points: Int64

    public init(orderID: String, chargeID: String, points: Int64) {
        self.orderID = orderID
        self.chargeID = chargeID
        self.points = points
    }

    // On the wire: order_id, charge_id, points.
    enum CodingKeys: String, CodingKey { case orderID = "orderId", chargeID = "chargeId", points }

    public func validate() throws {
        guard !orderID.isEmpty, orderID.utf8.count <= 128 else { throw EventValidationError("order_id must be 1 to 128 characters") }
        guard points >= 0 else { throw EventValidationError("points must not be negative") }
    }
}

/// Loyalty's compensation: the points of a refunded payment were taken back.
public struct LoyaltyPointsRevoked: SagaEvent, Hashable {
    public static let eventType = "LoyaltyPointsRevoked"
    public static let schemaVersion = 1
    public static let topic = LoyaltyTopics.loyalty

    public var orderID: String
    public var refundID: String
    public var points: Int64

    public init(orderID: String, refundID: String, points: Int64) {
        self.orderID = orderID
        self.refundID = refundID
        self.points = points
    }

    enum CodingKeys: String, CodingKey { case orderID = "orderId", refundID = "refundId", points }

    public func validate() throws {
        guard !orderID.isEmpty, orderID.utf8.count <= 128 else { throw EventValidationError("order_id must be 1 to 128 characters") }
        guard points >= 0 else { throw EventValidationError("points must not be negative") }
    }
}
