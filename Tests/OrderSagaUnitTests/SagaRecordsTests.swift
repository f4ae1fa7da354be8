import Checker
import Foundation
import Testing

/// saga-check's judgement of one saga's records: pure, no stack needed.
@Suite("saga-check: one saga's records")
struct SagaRecordsTests {
    static func completed() -> SagaRecords {
        var record = SagaRecords(sagaID: "S")
        record.order = SagaRecords.Order(sku: "w", quantity: 1, amountCents: 500, createdAt: Date())
        record.trackerState = "completed"
        record.reservation = SagaRecords.Reservation(sku: "w", quantity: 1, status: "fulfilled")
        record.charge = SagaRecords.Charge(status: "captured", amountCents: 500)
        record.confirmation = "sent"
        return record
    }

    @Test("a saga whose view the tracker's retention removed counts as finished only when its order predates the horizon and its records finish it")
    func purgedProjection() {
        let horizon = Date()
        var purged = Self.completed()
        purged.trackerState = nil
        purged.order?.createdAt = horizon.addingTimeInterval(-3600)
        var accepted = purged
        let took = accepted.acceptPurgedProjection(horizon: horizon)
        #expect(took && accepted.trackerState == "completed")
        #expect(accepted.check(requireTerminal: true).isEmpty, "\(accepted.check(requireTerminal: true))")
        #expect(purged.check(requireTerminal: true).contains { $0.invariant == .sagaTerminal }, "without the horizon: in flight")

        var noHorizon = purged
        let tookWithout = noHorizon.acceptPurgedProjection(horizon: nil)
        #expect(!tookWithout && noHorizon.trackerState == nil)
        var newer = purged
        newer.order?.createdAt = horizon.addingTimeInterval(60)
        let tookNewer = newer.acceptPurgedProjection(horizon: horizon)
        #expect(!tookNewer, "an order after the horizon was never purged")
        var unfinished = purged
        unfinished.confirmation = nil
        let tookUnfinished = unfinished.acceptPurgedProjection(horizon: horizon)
        #expect(!tookUnfinished, "records that finish nothing stay in question")
    }

    @Test("the four scenarios' records imply their states, and break nothing")
    func scenarios() {
        var refunded = Self.completed()
        refunded.trackerState = "compensated"
        refunded.reservation?.status = "released"
        refunded.charge?.status = "refunded"
        refunded.refundCents = 500
        refunded.confirmation = "failed"
        var declined = Self.completed()
        declined.trackerState = "compensated"
        declined.reservation?.status = "released"
        declined.charge = nil
        declined.declined = true
        declined.confirmation = nil
        var rejected = SagaRecords(sagaID: "S")
        rejected.order = Self.completed().order
        rejected.trackerState = "failed"
        rejected.rejected = true
        for (record, state) in [(Self.completed(), "completed"), (refunded, "compensated"), (declined, "compensated"), (rejected, "failed")] {
            #expect(record.impliedState == state)
            #expect(record.check(requireTerminal: true).isEmpty, "\(state): \(record.check(requireTerminal: true))")
        }
    }

    @Test("a compensation an operator skipped is settled: a kept charge or an unreleased reservation then breaks nothing, and only then")
    func skippedCompensations() {
        // The refund parked, then skipped; Inventory released after the skip.
        var refundSkipped = Self.completed()
        refundSkipped.trackerState = "compensated"
        refundSkipped.reservation?.status = "released"
        refundSkipped.confirmation = "failed"
        #expect(refundSkipped.check(requireTerminal: true).map(\.invariant).contains(.moneyConserved), "a kept charge without the skip")
        refundSkipped.skipped = ["refund_payment"]
        #expect(refundSkipped.impliedState == "compensated")
        #expect(refundSkipped.check(requireTerminal: true).isEmpty, "\(refundSkipped.check(requireTerminal: true))")
        // Parked and not yet resolved: compensation_failed, which the operator owns.
        var parked = refundSkipped
        parked.skipped = []
        parked.trackerState = "compensation_failed"
        parked.reservation?.status = "reserved"
        #expect(parked.check(requireTerminal: true).isEmpty)
        // A skipped refund does not excuse a refund that differs from its charge.
        var partial = refundSkipped
        partial.refundCents = 400
        #expect(partial.check(requireTerminal: false).contains { $0.invariant == .moneyConserved })
        // The release parked (nothing to release after the decline), then skipped.
        var releaseSkipped = SagaRecords(sagaID: "S")
        releaseSkipped.order = Self.completed().order
        releaseSkipped.trackerState = "compensated"
        releaseSkipped.declined = true
        #expect(releaseSkipped.impliedState == nil)
        releaseSkipped.skipped = ["release_inventory"]
        #expect(releaseSkipped.impliedState == "compensated")
        #expect(releaseSkipped.check(requireTerminal: true).isEmpty)
    }

    @Test("completed in the tracker before Inventory marked the stock sold: in flight, not a disagreement")
    func settling() {
        var record = Self.completed()
        record.reservation?.status = "reserved"
        #expect(record.settling && record.inFlight)
        #expect(record.check(requireTerminal: false).isEmpty)
        #expect(record.check(requireTerminal: true).map(\.invariant) == [.sagaTerminal])
        record.confirmation = "failed"
        #expect(!record.settling, "anything else is a disagreement")
        #expect(record.check(requireTerminal: false).map(\.invariant).contains(.projectionMatches))
    }

    @Test("money: a charge for a declined saga, a refund that differs from its charge, a charge that differs from the order")
    func money() {
        var declined = Self.completed()
        declined.trackerState = "compensated"
        declined.reservation?.status = "released"
        declined.declined = true
        declined.confirmation = nil
        #expect(declined.check(requireTerminal: false).contains { $0.invariant == .moneyConserved && $0.message.contains("failed before payment") })
        var partial = Self.completed()
        partial.trackerState = "compensated"
        partial.charge?.status = "refunded"
        partial.refundCents = 400
        #expect(partial.check(requireTerminal: false).contains { $0.invariant == .moneyConserved && $0.message.contains("refunded 400") })
        var overcharged = Self.completed()
        overcharged.charge?.amountCents = 900
        #expect(overcharged.check(requireTerminal: false).contains { $0.invariant == .moneyConserved && $0.message.contains("charged 900") })
    }
}
