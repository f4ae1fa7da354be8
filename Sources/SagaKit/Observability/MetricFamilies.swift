import CoreMetrics
import Metrics
import Synchronization

/// A counter per combination of label values, created on first use and reused after: swift-metrics asks its
/// factory (which locks) on every creation, so the hot path must not create. Create families after the metrics
/// system is bootstrapped (a metric keeps the factory it was made with), that is, inside `run`.
final class CounterFamily: Sendable {
    let label: String
    let keys: [String]
    private let counters = Mutex<[[String]: Counter]>([:])

    init(_ label: String, keys: [String]) {
        self.label = label
        self.keys = keys
    }

    func increment(_ values: [String], by amount: Int = 1) {
        guard amount > 0 else { return }
        counter(values).increment(by: amount)
    }

    private func counter(_ values: [String]) -> Counter {
        counters.withLock { counters in
            if let counter = counters[values] { return counter }
            let counter = Counter(label: label, dimensions: Array(zip(keys, values)))
            counters[values] = counter
            return counter
        }
    }
}

/// Gauges per combination of label values, for values that are set rather than counted (lag, rows pending).
final class GaugeFamily: Sendable {
    let label: String
    let keys: [String]
    private let gauges = Mutex<[[String]: Gauge]>([:])

    init(_ label: String, keys: [String]) {
        self.label = label
        self.keys = keys
    }

    func record(_ values: [String], _ value: Double) {
        let gauge = gauges.withLock { gauges in
            if let gauge = gauges[values] { return gauge }
            let gauge = Gauge(label: label, dimensions: Array(zip(keys, values)))
            gauges[values] = gauge
            return gauge
        }
        gauge.record(value)
    }
}
