import Foundation

/// What the four databases hold about one saga of the order saga: the tracker's order and projection, and each
/// participant's own records. Read a page of sagas at a time; judged by `SagaRecords.check`, a pure function.
public struct SagaRecords: Sendable, Hashable {
    public struct Order: Sendable, Hashable {
        public var sku: String
        public var quantity: Int
        public var amountCents: Int64
        public var createdAt: Date

        public init(sku: String, quantity: Int, amountCents: Int64, createdAt: Date) {
            self.sku = sku
            self.quantity = quantity
            self.amountCents = amountCents
            self.createdAt = createdAt
        }
    }

    public struct Reservation: Sendable, Hashable {
        public var sku: String
        public var quantity: Int
        /// `reserved`, `released` or `fulfilled`.
        public var status: String

        public init(sku: String, quantity: Int, status: String) {
            self.sku = sku
            self.quantity = quantity
            self.status = status
        }
    }

    public struct Charge: Sendable, Hashable {
        /// `captured` or `refunded`.
        public var status: String
        public var amountCents: Int64

        public init(status: String, amountCents: Int64) {
            self.status = status
            self.amountCents = amountCents
        }
    }

    public var sagaID: String
    public var order: Order?
    /// The projection's state; nil when the tracker has no row for the saga yet.
    public var trackerState: String?
    public var reservation: Reservation?
    public var rejected = false
    public var charge: Charge?
    public var refundCents: Int64?
    public var declined = false
    /// `awaiting_order`, `sent` or `failed`.
    public var confirmation: String?
    /// Compensations an operator skipped (`refund_payment` in Payment's database, `release_inventory` in
    /// Inventory's): settled by their decision, recorded in the audit log, not by the participant's records.
    public var skipped: Set<String> = []

    var refundSkipped: Bool { skipped.contains("refund_payment") }
    var releaseSkipped: Bool { skipped.contains("release_inventory") }

    public init(sagaID: String) {
        self.sagaID = sagaID
    }

    public static let terminalStates: Set<String> = ["completed", "compensated", "failed", "compensation_failed"]

    /// The terminal state the participants' records imply, or nil while they do not show one (in flight, or
    /// inconsistent).
    public var impliedState: String? {
        if rejected && reservation == nil && charge == nil { return "failed" }
        if reservation?.status == "fulfilled" && charge?.status == "captured" && refundCents == nil && confirmation == "sent" {
            return "completed"
        }
        // A skipped compensation is settled as if it had run: the stock or the money stays where it was, by the
        // operator's decision.
        let released = reservation?.status == "released" || releaseSkipped
        let refunded = (charge?.status == "refunded" && refundCents != nil) || (refundSkipped && refundCents == nil && charge?.status != "refunded")
        if released && declined && charge == nil { return "compensated" }
        if released && refunded && confirmation == "failed" { return "compensated" }
        return nil
    }

    /// The tracker saw the saga complete (on `ConfirmationSent`), and Inventory has yet to mark its stock sold on
    /// that same event: a moment every completed saga passes through, not a disagreement.
    public var settling: Bool {
        trackerState == "completed" && reservation?.status == "reserved" && charge?.status == "captured" && refundCents == nil
            && confirmation == "sent"
    }

    /// Whether the saga still has work to do: not in a terminal state, or settling.
    public var inFlight: Bool { !Self.terminalStates.contains(trackerState ?? "running") || settling }

    /// Takes a saga whose projection row is gone for one the tracker's retention removed, as its participants'
    /// records finished it, when its order is older than what retention has purged (`horizon`): the tracker kept
    /// its order and dropped its view, which is not a disagreement. Returns whether it did.
    public mutating func acceptPurgedProjection(horizon: Date?) -> Bool {
        guard trackerState == nil, let horizon, let order, order.createdAt < horizon,
              let implied = impliedState, ["completed", "compensated", "failed"].contains(implied) else { return false }
        trackerState = implied
        return true
    }

    /// The rows behind this saga, for a violation's report.
    public var rows: [String] {
        var rows: [String] = []
        if let order { rows.append("tracker.orders order_id=\(sagaID) sku=\(order.sku) quantity=\(order.quantity) amount_cents=\(order.amountCents)") }
        rows.append("tracker.sagas saga_id=\(sagaID) state=\(trackerState ?? "(none)")")
        if let reservation { rows.append("inventory.reservations order_id=\(sagaID) sku=\(reservation.sku) quantity=\(reservation.quantity) status=\(reservation.status)") }
        if rejected { rows.append("inventory.rejections order_id=\(sagaID)") }
        if let charge { rows.append("payment.charges order_id=\(sagaID) status=\(charge.status) amount_cents=\(charge.amountCents)") }
        if let refundCents { rows.append("payment.refunds order_id=\(sagaID) amount_cents=\(refundCents)") }
        if declined { rows.append("payment.declines order_id=\(sagaID)") }
        if let confirmation { rows.append("notification.confirmations order_id=\(sagaID) status=\(confirmation)") }
        for compensation in skipped.sorted() {
            rows.append("\(compensation == "refund_payment" ? "payment" : "inventory").sagakit_parked_compensations saga_id=\(sagaID) compensation=\(compensation) status=skipped")
        }
        return rows
    }

    /// The violations this saga's records show on their own. `requireTerminal` makes a saga in flight one.
    public func check(requireTerminal: Bool) -> [Violation] {
        var violations: [Violation] = []
        let state = trackerState ?? "running"
        let finished = Self.terminalStates.contains(state) && !settling
        if requireTerminal && !finished {
            let why = settling ? "saga is completed, but Inventory has not marked its stock sold" : "saga is \(state), not in a terminal state"
            violations.append(Violation(.sagaTerminal, saga: sagaID, why, rows: rows))
        }
        if order == nil && (reservation != nil || rejected || charge != nil || declined || confirmation != nil) {
            violations.append(Violation(.orderKnown, saga: sagaID, "effects for an order the tracker never started", rows: rows))
        }
        if let charge {
            if rejected || declined {
                violations.append(Violation(.moneyConserved, saga: sagaID,
                    "\(charge.status) charge for a saga that failed before payment (\(rejected ? "inventory rejected it" : "payment declined it"))", rows: rows))
            } else if finished, state != "compensation_failed", charge.status == "captured", impliedState != "completed",
                      !(refundSkipped && state == "compensated") {
                // A captured charge is the customer's money kept: only a completed saga may keep it, or one whose
                // refund an operator skipped (refunded outside the system, or accepted).
                violations.append(Violation(.moneyConserved, saga: sagaID, "captured charge for a saga that ended \(state)", rows: rows))
            }
            if let order, charge.amountCents != order.amountCents {
                violations.append(Violation(.moneyConserved, saga: sagaID, "charged \(charge.amountCents) cents for an order of \(order.amountCents)", rows: rows))
            }
            if let refundCents, refundCents != charge.amountCents {
                violations.append(Violation(.moneyConserved, saga: sagaID, "refunded \(refundCents) cents of a \(charge.amountCents)-cent charge", rows: rows))
            }
        } else if let refundCents {
            violations.append(Violation(.moneyConserved, saga: sagaID, "refund of \(refundCents) cents without a charge", rows: rows))
        }
        // compensation_failed is the state that says the services' records disagree by design: the operator's.
        if finished, state != "compensation_failed", impliedState != state {
            violations.append(Violation(.projectionMatches, saga: sagaID,
                "tracker says \(state), the services' records imply \(impliedState ?? "no finished saga")", rows: rows))
        }
        return violations
    }
}
