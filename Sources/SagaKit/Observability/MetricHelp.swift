import CoreMetrics
import Synchronization

/// Help text for exported metrics, by name: swift-metrics has no place for it, so whoever names a metric registers
/// its help here and the exposition (SagaKitService) reads it when the metric is made.
public enum MetricHelp {
    private static let texts = Mutex<[String: String]>(SagaKitMetrics.help)

    public static func register(_ metric: String, _ help: String) {
        texts.withLock { $0[metric] = help }
    }

    public static func text(for metric: String) -> String {
        texts.withLock { $0[metric] } ?? ""
    }
}
