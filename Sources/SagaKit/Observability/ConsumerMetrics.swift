import CoreMetrics
import KafkaClient
import Metrics

/// A consumer's metrics; made with the consumer, so after the metrics system is bootstrapped.
struct ConsumerMetrics: Sendable {
    let consumer: String
    let events = CounterFamily(SagaKitMetrics.consumerEvents, keys: ["consumer", "topic", "event_type", "outcome"])
    let emitted = CounterFamily(SagaKitMetrics.eventsEmitted, keys: ["event_type"])
    let retries: Counter
    let batchDuration: Timer
    let lag = GaugeFamily(SagaKitMetrics.consumerLag, keys: ["consumer", "topic", "partition"])
    let deadLetterFailures: Counter
    /// The participant's domain counters by emitted event type.
    let domain: [String: Counter]

    init(consumer: String, domainCounters: [String: String]) {
        self.consumer = consumer
        retries = Counter(label: SagaKitMetrics.consumerRetries, dimensions: [("consumer", consumer)])
        batchDuration = Timer(label: SagaKitMetrics.consumerBatchDuration, dimensions: [("consumer", consumer)])
        deadLetterFailures = Counter(label: SagaKitMetrics.deadLetterPublishFailures, dimensions: [("consumer", consumer)])
        domain = domainCounters.mapValues { Counter(label: $0) }
    }

    func event(topic: String, type: String, outcome: String) {
        events.increment([consumer, topic, type, outcome])
    }

    /// After a commit: the emitted events, generic and domain counters.
    func emitted(_ eventTypes: [String]) {
        for type in eventTypes {
            emitted.increment([type])
            domain[type]?.increment()
        }
    }

    func lag(_ lags: [(partition: KafkaTopicPartition, lag: Int64)]) {
        for entry in lags {
            lag.record([consumer, entry.partition.topic, String(entry.partition.partition)], Double(entry.lag))
        }
    }

    /// Partitions this member no longer reads are behind by nothing here: 0, so that a sum over the group's
    /// members counts each partition once (its new owner's value) rather than keeping this member's last one.
    func lagRevoked(_ partitions: [KafkaTopicPartition]) {
        for partition in partitions {
            lag.record([consumer, partition.topic, String(partition.partition)], 0)
        }
    }
}
