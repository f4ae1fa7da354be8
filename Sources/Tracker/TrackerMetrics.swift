import CoreMetrics
import Foundation
import Logging
import Metrics
import PGClient
import SagaKit
import ServiceLifecycle

/// The tracker's metrics: sagas by state and stuck sagas (gauges sampled from the projection every few seconds),
/// and the time each saga took to reach its end, by outcome (recorded when the projection first derives it).
public enum TrackerMetrics {
    public static let sagas = "sagakit_tracker_sagas"
    public static let stuck = "sagakit_tracker_stuck_sagas"
    public static let timeToTerminal = "sagakit_tracker_time_to_terminal_seconds"
    public static let deadLetters = "sagakit_tracker_dead_letters_total"

    static func registerHelp() {
        MetricHelp.register(sagas, "Sagas in the projection, by state (sampled every few seconds).")
        MetricHelp.register(stuck, "Running or compensating sagas with no event for longer than the stuck deadline (30 s; see `saga-tracker stuck`).")
        MetricHelp.register(timeToTerminal, "From a saga's first event to its terminal one, by final state, recorded when the tracker projects the end.")
        MetricHelp.register(deadLetters, "Dead letters on the saga's .dlq topics the tracker recorded, by the service that refused them (each once, however often the topics are read).")
        MetricHelp.register(ProjectionRetention.deletedMetric, "Rows retention took out of the tracker's view, by table: finished sagas (with their events) and dead letters older than --projection-retention-hours.")
    }
}

/// Samples the projection for the gauges. Runs beside the tracker's consumer; a failed sample is logged and
/// retried at the next tick, never fatal.
struct TrackerGauges: Service {
    let database: PGConfig
    let logger: Logger
    let interval: Duration
    let stuckAfter: Duration

    func run() async throws {
        TrackerMetrics.registerHelp()
        let byState = Dictionary(uniqueKeysWithValues: SagaState.allCases.map {
            ($0.rawValue, Gauge(label: TrackerMetrics.sagas, dimensions: [("state", $0.rawValue)]))
        })
        let stuck = Gauge(label: TrackerMetrics.stuck)
        await runPeriodically("tracker gauges: sample", database: database, interval: interval, logger: logger) { db in
            var counts = byState.mapValues { _ in 0 }
            for row in try await db.query("SELECT state, count(*) AS n FROM sagas GROUP BY state") {
                counts[try row.decode("state")] = try row.decode("n")
            }
            for (state, gauge) in byState { gauge.record(counts[state] ?? 0) }
            let cutoff = Date().addingTimeInterval(-stuckAfter.seconds)
            stuck.record(try await db.query("""
                SELECT count(*) AS n FROM sagas WHERE state IN ('running', 'compensating') AND updated_at < \(cutoff)
                """)[0].decode("n", as: Int.self))
            return interval
        }
    }
}
