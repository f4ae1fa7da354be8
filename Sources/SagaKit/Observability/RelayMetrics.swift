import CoreMetrics
import Metrics

/// The relay's metrics; made when the relay is, so after the metrics system is bootstrapped.
struct RelayMetrics: Sendable {
    let publishDuration = Timer(label: SagaKitMetrics.relayPublishDuration)
    let batches = Counter(label: SagaKitMetrics.relayBatches)
    let published = CounterFamily(SagaKitMetrics.relayPublished, keys: ["topic"])
    let errors = CounterFamily(SagaKitMetrics.relayErrors, keys: ["kind"])
    let parked = Counter(label: SagaKitMetrics.relayParked)
    let leaseHeld = Gauge(label: SagaKitMetrics.relayLeaseHeld)
    let takeovers = Counter(label: SagaKitMetrics.relayLeaseTakeovers)
    let pendingRows = Gauge(label: SagaKitMetrics.outboxPendingRows)
    let oldestPendingAge = Gauge(label: SagaKitMetrics.outboxOldestPendingAge)
    let parkedCompensations = Gauge(label: SagaKitMetrics.compensationsParked)

    func delivered(topics: [String]) {
        var perTopic: [String: Int] = [:]
        for topic in topics { perTopic[topic, default: 0] += 1 }
        for (topic, count) in perTopic { published.increment([topic], by: count) }
        batches.increment()
    }
}
