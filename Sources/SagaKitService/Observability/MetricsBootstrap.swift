import CoreMetrics
import Metrics
import Prometheus
import SagaKit
import Synchronization

/// Bootstraps swift-metrics once per process with a Prometheus registry, and renders it for `/metrics`.
///
/// swift-prometheus's own factory has no place for help texts, so this one hands every metric to the same
/// registry with the help SagaKit and the participants registered (`MetricHelp`), and picks histogram buckets
/// for the durations SagaKit measures.
public enum PrometheusMetrics {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The process's registry, bootstrapping the metrics system on first call.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        bootstrapped.withLock { current in
            if let current { return current }
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(HelpfulFactory(registry: registry))
            current = registry
            return registry
        }
    }

    /// The exposition, Prometheus text format 0.0.4.
    public static func render(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// Seconds: from a millisecond (a relay batch on an idle stack) to a minute (a saga stuck behind a retry).
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]
}

/// A `MetricsFactory` over one Prometheus registry that passes each metric's help text.
struct HelpfulFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func describe(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricHelp.text(for: label))
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: describe(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: describe(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: describe(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: describe(label), labels: dimensions, buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: describe(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: describe(label), labels: dimensions, buckets: PrometheusMetrics.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
