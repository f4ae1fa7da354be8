import Foundation
import Histogram
import OrderSaga
import PGClient
import SagaKit

/// Percentiles of a set of durations, in milliseconds.
struct LatencySummary: Encodable, Sendable {
    var count: Int
    var p50Ms: Double
    var p95Ms: Double
    var p99Ms: Double
    var maxMs: Double
    var meanMs: Double

    /// Values in microseconds, recorded in an HdrHistogram (three significant digits).
    init(micros: [UInt64]) {
        var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for value in micros { _ = histogram.record(max(1, min(value, 3_600_000_000))) }
        count = micros.count
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 100).rounded() / 100 }
        p50Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(50))
        p95Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(95))
        p99Ms = count == 0 ? 0 : ms(histogram.valueAtPercentile(99))
        maxMs = count == 0 ? 0 : ms(histogram.max)
        meanMs = count == 0 ? 0 : (histogram.mean / 1000 * 100).rounded() / 100
    }
}

/// One hop of the saga: an event from its producer's outbox commit, to the broker's acknowledgement (the relay
/// marks the row right after), to the consumer's transaction (its inbox row). All three stamps come from the one
/// PostgreSQL server's clock.
///
/// The stages split the same path by the message's own stamps (issue 19): commit → relay pick-up (the Kafka
/// message's timestamp, set when the relay hands it to librdkafka) → broker acknowledgement (the relay marks the row)
/// and, separately, pick-up → the consumer's poll → its inbox claim (the batch transaction's first statement).
/// Acknowledgement and poll race (a consumer can read a message before the relay has marked it), so they are two
/// branches from the pick-up, not one chain. Events consumed before the inbox kept these stamps count in no stage.
struct HopSummary: Encodable, Sendable {
    var eventType: String
    var from: String
    var to: String
    var commitToAck: LatencySummary
    var ackToConsumer: LatencySummary
    var commitToConsumer: LatencySummary
    var stages: Stages

    struct Stages: Encodable, Sendable {
        var commitToPickup: LatencySummary
        var pickupToAck: LatencySummary
        var pickupToPoll: LatencySummary
        var pollToClaim: LatencySummary
    }
}

/// What the databases say about a run, read after it.
struct RunResults: Sendable {
    struct Saga: Sendable {
        var createdAt: Date
        var terminalAt: Date?
        var state: String?
    }

    var sagas: [String: Saga] = [:]
    var hops: [HopSummary] = []

    /// The hops of the happy path, and who consumes each event.
    static let hopPlan: [(eventType: String, producer: String, consumer: String)] = [
        (OrderPlaced.eventType, "tracker", "inventory"),
        (InventoryReserved.eventType, "inventory", "payment"),
        (PaymentCaptured.eventType, "payment", "notification"),
        (ConfirmationSent.eventType, "notification", "inventory"),
        (ConfirmationSent.eventType, "notification", "tracker"),
    ]

    static func read(runID: String, databases: [String: PGConnection]) async throws -> RunResults {
        var results = RunResults()
        let pattern = runID + "-%"
        let tracker = databases["tracker"]!
        for row in try await tracker.query("""
            SELECT o.order_id, o.created_at, s.observed_terminal_at, s.state
            FROM orders o LEFT JOIN sagas s ON s.saga_id = o.order_id WHERE o.order_id LIKE \(pattern)
            """) {
            results.sagas[try row.decode("order_id")] = Saga(
                createdAt: try row.decode("created_at"), terminalAt: try row.decode("observed_terminal_at"), state: try row.decode("state"))
        }

        for hop in hopPlan {
            guard let producer = databases[hop.producer], let consumer = databases[hop.consumer] else { continue }
            let outbox = try await Outbox.publicationTimes(eventType: hop.eventType, keyLike: pattern, on: producer)
            let consumerName = hop.consumer == "tracker" ? "projection" : "saga"
            var samples = HopSamples()
            for (eventID, times) in try await Inbox.processedTimes(consumer: consumerName, eventType: hop.eventType, sagaIDLike: pattern, on: consumer) {
                guard let out = outbox[eventID], let published = out.published else { continue }
                samples.add(created: out.created, published: published, times: times)
            }
            results.hops.append(samples.summary(eventType: hop.eventType, from: hop.producer, to: hop.consumer))
        }
        return results
    }
}

/// One hop's durations, in microseconds; the stages only from the events that carry every stamp.
struct HopSamples {
    var commitToAck: [UInt64] = []
    var ackToConsumer: [UInt64] = []
    var commitToConsumer: [UInt64] = []
    var commitToPickup: [UInt64] = []
    var pickupToAck: [UInt64] = []
    var pickupToPoll: [UInt64] = []
    var pollToClaim: [UInt64] = []

    mutating func add(created: Date, published: Date, times: Inbox.StageTimes) {
        commitToAck.append(micros(published.timeIntervalSince(created)))
        ackToConsumer.append(micros(times.processedAt.timeIntervalSince(published)))
        commitToConsumer.append(micros(times.processedAt.timeIntervalSince(created)))
        guard let produced = times.producedAt, let polled = times.polledAt else { return }
        commitToPickup.append(micros(produced.timeIntervalSince(created)))
        pickupToAck.append(micros(published.timeIntervalSince(produced)))
        pickupToPoll.append(micros(polled.timeIntervalSince(produced)))
        pollToClaim.append(micros(times.processedAt.timeIntervalSince(polled)))
    }

    func summary(eventType: String, from: String, to: String) -> HopSummary {
        HopSummary(
            eventType: eventType, from: from, to: to, commitToAck: LatencySummary(micros: commitToAck),
            ackToConsumer: LatencySummary(micros: ackToConsumer), commitToConsumer: LatencySummary(micros: commitToConsumer),
            stages: HopSummary.Stages(
                commitToPickup: LatencySummary(micros: commitToPickup), pickupToAck: LatencySummary(micros: pickupToAck),
                pickupToPoll: LatencySummary(micros: pickupToPoll), pollToClaim: LatencySummary(micros: pollToClaim)))
    }
}

func micros(_ interval: TimeInterval) -> UInt64 {
    UInt64(max(0, (interval * 1_000_000).rounded()))
}
