import CoreMetrics
import Metrics
import Synchronization

/// A metric per combination of label values, created on first use and reused after: swift-metrics asks its
/// factory (which locks) on every creation, so the hot path must not create. Create families after the metrics
/// system is bootstrapped (a metric keeps the factory it was made with), that is, inside `run`.
final class MetricFamily<Metric: Sendable>: Sendable {
    let label: String
    let keys: [String]
    private let make: @Sendable (_ label: String, _ dimensions: [(String, String)]) -> Metric
    private let metrics = Mutex<[[String]: Metric]>([:])

    init(_ label: String, keys: [String], make: @escaping @Sendable (_ label: String, _ dimensions: [(String, String)]) -> Metric) {
        self.label = label
        self.keys = keys
        self.make = make
    }

    func metric(_ values: [String]) -> Metric {
        metrics.withLock { metrics in
            if let metric = metrics[values] { return metric }
            let metric = make(label, Array(zip(keys, values)))
            metrics[values] = metric
            return metric
        }
    }
}

/// Counters per combination of label values.
typealias CounterFamily = MetricFamily<Counter>

extension MetricFamily where Metric == Counter {
    convenience init(_ label: String, keys: [String]) {
        self.init(label, keys: keys) { Counter(label: $0, dimensions: $1) }
    }

    func increment(_ values: [String], by amount: Int = 1) {
        guard amount > 0 else { return }
        metric(values).increment(by: amount)
    }
}

/// Gauges per combination of label values, for values that are set rather than counted (lag, rows pending).
typealias GaugeFamily = MetricFamily<Gauge>

extension MetricFamily where Metric == Gauge {
    convenience init(_ label: String, keys: [String]) {
        self.init(label, keys: keys) { Gauge(label: $0, dimensions: $1) }
    }

    func record(_ values: [String], _ value: Double) {
        metric(values).record(value)
    }
}
