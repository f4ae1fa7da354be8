import CoreMetrics
import Metrics

/// The metrics SagaKit's relay and consumers export, named the Prometheus way (base units, `_total`, `_seconds`)
/// and labelled by service, consumer, topic, event type and outcome, never by saga: labels must stay few. Help
/// texts and histogram buckets are the HTTP layer's (SagaKitService's `MetricsEndpoint`).
public enum SagaKitMetrics {
    // Outbox and relay.
    public static let outboxPendingRows = "sagakit_outbox_pending_rows"
    public static let outboxOldestPendingAge = "sagakit_outbox_oldest_pending_age_seconds"
    public static let relayPublishDuration = "sagakit_relay_publish_duration_seconds"
    public static let relayBatches = "sagakit_relay_batches_total"
    public static let relayPublished = "sagakit_relay_published_total"
    public static let relayErrors = "sagakit_relay_errors_total"
    public static let relayParked = "sagakit_relay_parked_rows_total"
    public static let relayLeaseHeld = "sagakit_relay_lease_held"
    public static let relayLeaseTakeovers = "sagakit_relay_lease_takeovers_total"
    // Consumers.
    public static let consumerEvents = "sagakit_consumer_events_total"
    public static let consumerRetries = "sagakit_consumer_retries_total"
    public static let consumerBatchDuration = "sagakit_consumer_batch_duration_seconds"
    public static let consumerLag = "sagakit_consumer_lag_messages"
    public static let eventsEmitted = "sagakit_events_emitted_total"
    public static let deadLetterPublishFailures = "sagakit_dead_letter_publish_failures_total"
    public static let deadLettersRedriven = DeadLetterRedrive.redrivenMetric
    // Compensations.
    public static let compensationsParked = "sagakit_compensations_parked"
    public static let compensationsParkedTotal = "sagakit_compensations_parked_total"

    /// Help text per metric, for the exposition's `# HELP` lines.
    public static let help: [String: String] = [
        outboxPendingRows: "Outbox rows not yet published (sampled by the active relay every few seconds).",
        outboxOldestPendingAge: "Age of the oldest unpublished outbox row, in seconds; 0 when none waits.",
        relayPublishDuration: "Time from a relay batch's produce to the broker's last acknowledgement.",
        relayBatches: "Relay batches published.",
        relayPublished: "Outbox rows published, by topic.",
        relayErrors: "Relay failures: a failed cycle (database or broker) or a row whose publish failed and will be retried.",
        relayParked: "Outbox rows parked: the broker refused them for good (see `outbox status`).",
        relayLeaseHeld: "1 while this process holds the outbox lease and publishes, else 0.",
        relayLeaseTakeovers: "Times this process took the outbox lease.",
        consumerEvents: "Events read by a consumer, by outcome: applied, duplicate (already applied), ignored (no handler), dead_lettered.",
        consumerRetries: "Consumer batches rolled back and retried after a backoff.",
        consumerBatchDuration: "Time to handle a polled batch in one transaction, commit included.",
        consumerLag: "Messages behind the partition's high watermark, per assigned partition, from the last fetch (0 once the partition moved to another member). The local broker (Tansu) keeps its high watermark a batch short of the log end, so the lag reads low there.",
        eventsEmitted: "Events emitted by handlers, by type, counted after their transaction commits.",
        deadLetterPublishFailures: "Dead-letter publishes that failed; the partition waits and retries.",
        deadLettersRedriven: "Dead letters put back on their source topic (`dead-letters redrive`), by the service that had refused them, counted once the broker acknowledged.",
        compensationsParked: "Compensations parked and not yet retried or skipped (`compensations list`), sampled by the active relay every few seconds: each needs an operator.",
        compensationsParkedTotal: "Compensations that failed for good and were parked, by consumer and compensation, counted after their transaction commits.",
    ]
}
