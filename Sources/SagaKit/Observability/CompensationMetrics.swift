import CoreMetrics
import Metrics

/// Parked compensations, counted by the consumer that parked them. Made on first use, which is after a parking
/// commits, so after the metrics system is bootstrapped.
enum CompensationMetrics {
    static let parked = CounterFamily(SagaKitMetrics.compensationsParkedTotal, keys: ["consumer", "compensation"])
}
