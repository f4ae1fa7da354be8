import Foundation
import KafkaClient
import Logging
import OrderSaga
import PGClient
import SagaKit
import SagaKitService

/// `saga-tracker rebuild`: the projection again from nothing but the topics (and the tracker's own outbox).
public enum ProjectionRebuild {
    public struct Progress: Sendable {
        public var done: Int
        /// Messages on the topics when the rebuild started (a broker whose high watermark lags, like Tansu, may
        /// report a little less than there is).
        public var total: Int
        public var elapsed: Duration
    }

    public struct Summary: Sendable {
        public var events: Int
        public var sagas: Int
        public var elapsed: Duration
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Refuses while the tracker's projection consumer runs; empties the projection, moves the group to the
    /// earliest offsets, and consumes until caught up, reporting progress about once a second.
    public static func rebuild(
        database: PGConfig, kafka: KafkaConfiguration, topics: TopicNames, logger: Logger,
        progress: @escaping @Sendable (Progress) -> Void
    ) async throws -> Summary {
        let started = ContinuousClock.now
        let definition = try Tracker.consumers(ServiceContext(options: NoOptions(), topics: topics, logger: logger))[0]
        let group = topics.groupID(service: Tracker.name, consumer: definition.name)
        let physical = definition.topics.map { topics($0) }
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        let description = try await admin.describeGroup(group)
        guard !description.isActive else {
            await admin.close()
            throw Refused(description: "refusing to rebuild: \(description.memberCount) projection consumer(s) are running in group \(group); stop `saga-tracker run` first")
        }
        var total = 0
        for topic in physical {
            for partition in try await admin.partitions(of: topic) {
                let marks = try await admin.watermarks(topic: topic, partition: partition)
                total += Int(marks.high - marks.low)
            }
        }

        let db = try await PGConnection.connect(database, logger: logger)
        try await db.withTransaction { tx in
            try tx.query("DELETE FROM sagas")
            try tx.query("DELETE FROM saga_events")
            try tx.query("DELETE FROM sagakit_inbox WHERE consumer = \(definition.name)")
            // The tracker's own events, including any its relay has not published yet.
            let own = try tx.query("SELECT payload FROM sagakit_outbox ORDER BY id").compactMap { row in
                try? EventEnvelope.decode(Array(try row.decode("payload", as: String.self).utf8))
            }
            for start in stride(from: 0, to: own.count, by: 1000) {
                try ProjectionStore.record(Array(own[start..<min(start + 1000, own.count)]), on: tx)
            }
        }
        for topic in physical {
            try await admin.resetOffsets(group: group, topic: topic, to: .earliest)
        }
        await admin.close()

        var configuration = ConsumerConfiguration(name: definition.name, groupID: group, topics: physical)
        configuration.batchSize = 500
        configuration.topicNames = topics
        configuration.stopWhenCaughtUpFor = .seconds(1)
        let producer = try ProducerHandle(logger: logger) { try KafkaProducer(configuration: kafka, clientID: "tracker-rebuild", logger: logger) }
        let consumer = EventConsumer(
            configuration: configuration, serviceName: Tracker.name, kafka: kafka, database: database, registry: Tracker.registry,
            handlers: definition.handlers, producer: producer, logger: logger)
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let counters = consumer.currentCounters
                progress(Progress(done: counters.applied + counters.duplicates + counters.ignored + counters.deadLettered,
                                  total: total, elapsed: ContinuousClock.now - started))
            }
        }
        do {
            try await consumer.run()
        } catch {
            reporter.cancel()
            await producer.close()
            await db.close()
            throw error
        }
        reporter.cancel()
        await producer.close()
        let counters = consumer.currentCounters
        let sagas: Int = try await db.query("SELECT count(*) AS n FROM sagas")[0].decode("n")
        await db.close()
        return Summary(events: counters.applied + counters.duplicates + counters.ignored + counters.deadLettered, sagas: sagas,
                       elapsed: ContinuousClock.now - started)
    }
}
