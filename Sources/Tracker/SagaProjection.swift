import Foundation
import OrderSaga
import SagaKit

/// One event as the tracker keeps it.
public struct SagaEventRecord: Sendable, Hashable, Codable {
    public var eventID: UUID
    public var eventType: String
    public var producer: String
    public var occurredAt: Date
    public var causationID: UUID?
    /// The payload's JSON, for the reasons failures carry.
    public var payload: String

    public init(eventID: UUID, eventType: String, producer: String, occurredAt: Date, causationID: UUID?, payload: String) {
        self.eventID = eventID
        self.eventType = eventType
        self.producer = producer
        self.occurredAt = occurredAt
        self.causationID = causationID
        self.payload = payload
    }

    public init(_ envelope: EventEnvelope) {
        self.init(eventID: envelope.eventID, eventType: envelope.eventType, producer: envelope.producer, occurredAt: envelope.occurredAt,
                  causationID: envelope.causationID, payload: String(decoding: envelope.payload, as: UTF8.self))
    }
}

public enum SagaState: String, Sendable, Codable, CaseIterable {
    case running, completed, compensating, compensated, failed
    /// A compensation failed for good: an operator must act.
    case compensationFailed = "compensation_failed"

    public var isTerminal: Bool { self != .running && self != .compensating }
}

/// A saga's status as the tracker reports it.
public struct SagaStatus: Sendable, Hashable, Codable {
    public struct TimelineEntry: Sendable, Hashable, Codable {
        /// A step or compensation name, or the event type for events that are neither (`OrderPlaced`, failures).
        public var name: String
        public var eventType: String
        public var service: String
        public var at: Date
        /// Milliseconds since the previous entry; nil for the first.
        @ExplicitNull public var sincePreviousMs: Double?
        /// What an operator decided, for the events that record a decision: `skipped by operator: <reason>`.
        @ExplicitNull public var note: String?

        public init(name: String, eventType: String, service: String, at: Date, sincePreviousMs: Double?, note: String? = nil) {
            self.name = name
            self.eventType = eventType
            self.service = service
            self.at = at
            self.sincePreviousMs = sincePreviousMs
            self.note = note
        }
    }

    public var sagaID: String
    public var state: SagaState
    /// The step or compensation in progress; nil once the saga is terminal.
    @ExplicitNull public var currentStep: String?
    /// The service expected to act next.
    @ExplicitNull public var waitingFor: String?
    @ExplicitNull public var startedAt: Date?
    public var updatedAt: Date
    @ExplicitNull public var finishedAt: Date?
    public var completedSteps: [String]
    public var compensations: [String]
    @ExplicitNull public var error: String?
    public var eventCount: Int
    public var timeline: [TimelineEntry]
}

/// Derives a saga's status from the set of its events.
///
/// Only which events exist matters, never the order they arrived in, and duplicates count once: each outcome
/// is a function of the set. Times come from the events themselves (`occurred_at`), so a rebuild reproduces the
/// projection exactly.
public enum SagaProjection {
    public static func derive(sagaID: String, events input: [SagaEventRecord]) -> SagaStatus? {
        let events = canonicalOrder(input)
        guard !events.isEmpty else { return nil }
        let set = EventSet(events)
        let outcome = Outcome(set)
        return SagaStatus(
            sagaID: sagaID, state: outcome.state, currentStep: outcome.current?.rawValue, waitingFor: outcome.waiting,
            startedAt: (set.has(OrderPlaced.self) ?? events[0]).occurredAt, updatedAt: events[events.count - 1].occurredAt,
            finishedAt: outcome.state.isTerminal ? outcome.terminal?.occurredAt : nil,
            completedSteps: completedSteps(set), compensations: compensations(set), error: outcome.error,
            eventCount: events.count, timeline: timeline(events)
        )
    }

    /// One record per event id (among copies of an id, any: they are identical), in canonical order: time, then
    /// the saga's causal rank, then id — a total order independent of arrival.
    private static func canonicalOrder(_ input: [SagaEventRecord]) -> [SagaEventRecord] {
        var byID: [UUID: SagaEventRecord] = [:]
        for event in input { byID[event.eventID] = event }
        return byID.values.sorted {
            ($0.occurredAt, rank($0.eventType), $0.eventID.uuidString) < ($1.occurredAt, rank($1.eventType), $1.eventID.uuidString)
        }
    }

    /// The first event of each type, in canonical order.
    private struct EventSet {
        private var first: [String: SagaEventRecord] = [:]

        init(_ events: [SagaEventRecord]) {
            for event in events where first[event.eventType] == nil { first[event.eventType] = event }
        }

        func has(_ type: any SagaEvent.Type) -> SagaEventRecord? { first[type.eventType] }
    }

    /// The `reason` in an event's payload, for the event types that carry one.
    private static func reason(_ event: SagaEventRecord?) -> String? {
        guard let event, reasonEventTypes.contains(event.eventType), let data = event.payload.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["reason"] as? String
    }

    private static func completedSteps(_ set: EventSet) -> [String] {
        var completed: [String] = []
        if set.has(InventoryReserved.self) != nil { completed.append(SagaStep.reserveInventory.rawValue) }
        if set.has(PaymentCaptured.self) != nil { completed.append(SagaStep.chargePayment.rawValue) }
        if set.has(ConfirmationSent.self) != nil { completed.append(SagaStep.sendConfirmation.rawValue) }
        return completed
    }

    /// Compensations run in reverse order of the steps: refund, then release. Only those that ran are listed: one
    /// an operator skipped is in the timeline, with the reason.
    private static func compensations(_ set: EventSet) -> [String] {
        var compensations: [String] = []
        if set.has(PaymentRefunded.self) != nil { compensations.append(SagaStep.refundPayment.rawValue) }
        if set.has(InventoryReleased.self) != nil { compensations.append(SagaStep.releaseInventory.rawValue) }
        return compensations
    }

    /// Where the saga stands: its state, the step it waits on and for whom, the event that ended it, its error.
    private struct Outcome {
        var state: SagaState
        var current: SagaStep?
        var waiting: String?
        var terminal: SagaEventRecord?
        var error: String?

        init(_ set: EventSet) {
            let rejected = set.has(InventoryRejected.self)
            let declined = set.has(PaymentDeclined.self)
            let confirmationFailed = set.has(ConfirmationFailed.self)
            // A compensation is settled when it ran (after a retry too) or an operator skipped it; its failure is
            // then superseded. Presence, not order: a success or skip can only follow the failure it settles.
            let refund = set.has(PaymentRefunded.self) ?? set.has(PaymentRefundSkipped.self)
            let release = set.has(InventoryReleased.self) ?? set.has(InventoryReleaseSkipped.self)
            let compensationFailure = [refund == nil ? set.has(PaymentRefundFailed.self) : nil, release == nil ? set.has(InventoryReleaseFailed.self) : nil]
                .compactMap { $0 }.min { $0.occurredAt < $1.occurredAt }
            let released = release != nil
            let refunded = refund != nil

            error = reason(rejected) ?? reason(declined) ?? reason(confirmationFailed)
            if let rejected {
                state = .failed
                terminal = rejected
            } else if let compensationFailure {
                state = .compensationFailed
                terminal = compensationFailure
                let detail = reason(compensationFailure) ?? compensationFailure.eventType
                error = error.map { "\($0); then \(detail)" } ?? detail
            } else if let sent = set.has(ConfirmationSent.self) {
                state = .completed
                terminal = sent
            } else if declined != nil {
                if released {
                    state = .compensated
                    terminal = release
                } else {
                    state = .compensating
                    (current, waiting) = (.releaseInventory, "inventory")
                }
            } else if confirmationFailed != nil {
                if refunded && released {
                    state = .compensated
                    terminal = [refund!, release!].max { $0.occurredAt < $1.occurredAt }
                } else if !refunded {
                    state = .compensating
                    (current, waiting) = (.refundPayment, "payment")
                } else {
                    state = .compensating
                    (current, waiting) = (.releaseInventory, "inventory")
                }
            } else {
                state = .running
                if set.has(PaymentCaptured.self) != nil {
                    (current, waiting) = (.sendConfirmation, "notification")
                } else if set.has(InventoryReserved.self) != nil {
                    (current, waiting) = (.chargePayment, "payment")
                } else {
                    (current, waiting) = (.reserveInventory, "inventory")
                }
            }
        }
    }

    /// Every event in canonical order, named by the step it completes, with the time since the one before.
    private static func timeline(_ events: [SagaEventRecord]) -> [SagaStatus.TimelineEntry] {
        var timeline: [SagaStatus.TimelineEntry] = []
        var previous: Date?
        for event in events {
            timeline.append(SagaStatus.TimelineEntry(
                name: stepName(event.eventType) ?? event.eventType, eventType: event.eventType, service: event.producer,
                at: event.occurredAt, sincePreviousMs: previous.map { (event.occurredAt.timeIntervalSince($0) * 1000 * 1000).rounded() / 1000 },
                note: skipEventTypes.contains(event.eventType) ? reason(event).map { "skipped by operator: \($0)" } : nil
            ))
            previous = event.occurredAt
        }
        return timeline
    }

    /// The events whose payload's `reason` a status shows; the derivation reads no other payload.
    public static let reasonEventTypes: Set<String> = [
        InventoryRejected.eventType, PaymentDeclined.eventType, ConfirmationFailed.eventType,
        PaymentRefundFailed.eventType, InventoryReleaseFailed.eventType, PaymentRefundSkipped.eventType, InventoryReleaseSkipped.eventType,
    ]

    /// The events that say a compensation failed for good and was parked by its producer (where an operator's
    /// retry or skip goes: the console's saga page), each with the events that settle it (its later success, or
    /// the operator's skip).
    public static let compensationFailureSettledBy: [String: Set<String>] = [
        PaymentRefundFailed.eventType: [PaymentRefunded.eventType, PaymentRefundSkipped.eventType],
        InventoryReleaseFailed.eventType: [InventoryReleased.eventType, InventoryReleaseSkipped.eventType],
    ]

    /// The events that say an operator skipped a compensation; the timeline notes their reason.
    static let skipEventTypes: Set<String> = [PaymentRefundSkipped.eventType, InventoryReleaseSkipped.eventType]

    /// The step or compensation an event completes.
    static func stepName(_ eventType: String) -> String? {
        switch eventType {
        case InventoryReserved.eventType: SagaStep.reserveInventory.rawValue
        case PaymentCaptured.eventType: SagaStep.chargePayment.rawValue
        case ConfirmationSent.eventType: SagaStep.sendConfirmation.rawValue
        case PaymentRefunded.eventType, PaymentRefundSkipped.eventType: SagaStep.refundPayment.rawValue
        case InventoryReleased.eventType, InventoryReleaseSkipped.eventType: SagaStep.releaseInventory.rawValue
        default: nil
        }
    }

    /// The saga's causal order, to break ties between events with the same timestamp.
    static func rank(_ eventType: String) -> Int {
        switch eventType {
        case OrderPlaced.eventType: 0
        case InventoryReserved.eventType, InventoryRejected.eventType: 1
        case PaymentCaptured.eventType, PaymentDeclined.eventType: 2
        case ConfirmationSent.eventType, ConfirmationFailed.eventType: 3
        case PaymentRefunded.eventType, PaymentRefundFailed.eventType: 4
        case PaymentRefundSkipped.eventType: 5
        case InventoryReleased.eventType, InventoryReleaseFailed.eventType: 6
        case InventoryReleaseSkipped.eventType: 7
        default: 8
        }
    }
}

extension SagaStatus {
    enum CodingKeys: String, CodingKey {
        case sagaID = "sagaId", state, currentStep, waitingFor, startedAt, updatedAt, finishedAt, completedSteps, compensations, error
        case eventCount, timeline
    }
}
