import Foundation
import KafkaClient
import Logging
import OrderSaga
import PGClient
import SagaKit

/// `saga-tracker rebuild`: the projection again from nothing but the topics (and the tracker's own outbox).
///
/// The live projection is never touched until the new one is complete: the rebuild writes into a schema of its own
/// (`tracker_rebuild`, with empty copies of the event log, the projection, the inbox and the outbox) through a
/// connection whose `search_path` puts that schema first, so the projection's ordinary code writes there. Only when
/// every topic was read to its end, and the new event log holds every event the live one has, does one transaction
/// swap the new rows in. A broker that lost data (its topics hold fewer events than the tracker has seen) makes the
/// rebuild refuse and leave the live projection as it was, unless forced.
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
        /// Events the live event log had that the topics no longer hold (only with `force`).
        public var missing: Int
        public var elapsed: Duration
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// The rebuild's consumer group is the live group's name, this, and a random tail; deleted afterwards. On a
    /// cluster with ACLs the tracker needs Read and Delete on the groups with this prefix (docs/OPERATIONS.md).
    public static let groupSuffix = ".rebuild-"

    /// The schema the new projection is built in; dropped after the swap, or before a new attempt.
    static let schema = "tracker_rebuild"
    /// The projection's tables a rebuild writes; SagaKit adds the consumer's own (inbox, and the outbox: the
    /// projection emits nothing, but whatever a consumer emits must not reach the live outbox). `dead_letters` is
    /// left out: its own consumer fills it from the `.dlq` topics, keyed by their coordinates, and a rebuild of the
    /// saga projection neither stops that consumer nor needs to redo its work.
    static let tables = ["saga_events", "sagas"]

    /// Refuses while the tracker's projection consumer runs; builds the projection anew from the topics in a
    /// schema of its own with a consumer group of its own, reporting progress about once a second; then swaps it
    /// in, or refuses (the live projection untouched) when the topics lack events the live event log has.
    public static func rebuild(
        database: PGConfig, kafka: KafkaConfiguration, topics: TopicNames, force: Bool = false, logger: Logger,
        progress: @escaping @Sendable (Progress) -> Void
    ) async throws -> Summary {
        let started = ContinuousClock.now
        let definition = try Tracker.consumers(ParticipantContext(configuration: Tracker.Configuration(), topics: topics, logger: logger))[0]
        let liveGroup = topics.groupID(service: Tracker.name, consumer: definition.name)
        let physical = definition.topics.map { topics($0) }
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        let description = try await admin.describeGroup(liveGroup)
        guard !description.isActive else {
            await admin.close()
            throw Refused(description: "refusing to rebuild: \(description.memberCount) projection consumer(s) are running in group \(liveGroup); stop `saga-tracker run` first")
        }
        var total = 0
        for topic in physical {
            for partition in try await admin.partitions(of: topic) {
                let marks = try await admin.watermarks(topic: topic, partition: partition)
                total += Int(marks.high - marks.low)
            }
        }

        // One connection whose `search_path` is the rebuild's schema alone, so the projection's code writes there
        // and nowhere else (the consumer's connection gets the same setting); the statements below name `public`
        // where they mean the live tables. An advisory lock keeps a second rebuild from dropping this one's schema.
        var building = database
        building.sessionSettings["search_path"] = schema
        let db = try await PGConnection.connect(building, logger: logger)
        do {
            let locked: Bool = try await db.query("SELECT pg_try_advisory_lock(\(Self.lockKey)) AS locked")[0].decode("locked")
            guard locked else { throw Refused(description: "refusing to rebuild: another rebuild of this projection is running") }
            let current: String? = try await db.query("SELECT current_schemas(false)::text AS path")[0].decode("path")
            guard current == "{}" || current == "{\(schema)}" else {
                throw Refused(description: "refusing to rebuild: the connection's search_path is \(current ?? "unset"), not \(schema) (does the database URL set options=-c search_path?)")
            }
            try await prepareSchema(on: db)
            guard try await db.query("SELECT current_schema() AS s")[0].decode("s", as: String?.self) == schema else {
                throw Refused(description: "refusing to rebuild: the rebuild's tables are not what the connection writes to")
            }
            try await db.withTransaction { tx in try recordOwnEvents(on: tx) }
        } catch {
            await db.close()
            throw error
        }

        // A group of its own, from the earliest offsets: the live group's offsets stay where the live consumer left
        // them, so a rebuild that fails half-way leaves nothing behind that the live tracker would skip.
        let group = "\(liveGroup)\(groupSuffix)\(UUID().uuidString.prefix(8).lowercased())"
        var configuration = ConsumerConfiguration(name: definition.name, groupID: group, topics: physical)
        configuration.batchSize = 500
        configuration.topicNames = topics
        configuration.notifyOnEmit = false
        configuration.stopWhenCaughtUpFor = .seconds(1)
        let producer = try ProducerHandle(logger: logger) { try KafkaProducer(configuration: kafka, clientID: "tracker-rebuild", logger: logger) }
        let consumer = EventConsumer(
            configuration: configuration, serviceName: Tracker.name, kafka: kafka, database: building, registry: Tracker.registry,
            handlers: definition.handlers, producer: producer, logger: logger)
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let counters = consumer.currentCounters
                progress(Progress(done: counters.applied + counters.duplicates + counters.ignored + counters.deadLettered,
                                  total: total, elapsed: ContinuousClock.now - started))
            }
        }
        let outcome: Result<Void, any Error>
        do {
            try await consumer.run()
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        reporter.cancel()
        await producer.close()
        try? await admin.deleteGroup(group)
        await admin.close()
        do {
            try outcome.get()
            let counters = consumer.currentCounters
            let (sagas, missing) = try await swap(consumer: definition.name, force: force, on: db)
            await db.close()
            return Summary(events: counters.applied + counters.duplicates + counters.ignored + counters.deadLettered, sagas: sagas,
                           missing: missing, elapsed: ContinuousClock.now - started)
        } catch {
            _ = try? await db.query("DROP SCHEMA IF EXISTS \(unsafeRaw: schema) CASCADE")
            await db.close()
            throw error
        }
    }

    /// A fresh schema with empty copies of the tables a rebuild writes (a failed attempt's leftovers go first).
    static func prepareSchema(on db: PGConnection) async throws {
        try await db.withTransaction { tx in
            try tx.query("DROP SCHEMA IF EXISTS \(unsafeRaw: schema) CASCADE")
            try tx.query("CREATE SCHEMA \(unsafeRaw: schema)")
            for table in tables {
                try tx.query("CREATE TABLE \(unsafeRaw: schema).\(unsafeRaw: table) (LIKE public.\(unsafeRaw: table) INCLUDING ALL)")
            }
            try SagaKitSchema.createConsumerTables(inSchema: schema, on: tx)
        }
    }

    /// An advisory lock key of the tracker's own: one rebuild at a time per database.
    static let lockKey: Int64 = 0x7361_6761_7262_6c64

    /// Records the tracker's own events (its outbox, published or not) that the rebuilt event log lacks into the
    /// projection the connection's `search_path` names. By absence, not by id: an id taken before another but
    /// committed after it is found all the same.
    static func recordOwnEvents(on tx: isolated PGConnection) throws {
        var after: Int64 = 0
        let unrecorded = "NOT EXISTS (SELECT 1 FROM \(schema).saga_events r WHERE r.event_id = o.event_id)"
        while true {
            let page = try Outbox.events(after: after, limit: 1000, where: unrecorded, on: tx)
            guard let last = page.last else { return }
            after = last
            try ProjectionStore.record(page.events, on: tx)
        }
    }

    /// In one transaction, with the live tables locked against the intake: records the orders started since the
    /// rebuild began, counts the live events the rebuilt log lacks (refusing unless `force`), replaces the live
    /// event log, projection and the projection consumer's inbox rows with the rebuilt ones, and drops the schema.
    /// Returns the number of sagas and of missing events.
    static func swap(consumer: String, force: Bool, on db: PGConnection) async throws -> (sagas: Int, missing: Int) {
        try await db.withTransaction { tx in
            try tx.query("LOCK TABLE public.orders, public.saga_events, public.sagas IN EXCLUSIVE MODE")
            try recordOwnEvents(on: tx)
            let missing: Int = try tx.query("""
                SELECT count(*) AS n FROM public.saga_events l
                WHERE NOT EXISTS (SELECT 1 FROM \(unsafeRaw: schema).saga_events r WHERE r.event_id = l.event_id)
                """)[0].decode("n")
            if missing > 0 && !force {
                throw Refused(description: "refusing to rebuild: the topics lack \(missing) of the events the projection has recorded (the broker lost data?); the projection is unchanged. Republish from the outboxes first (docs/OPERATIONS.md, \"The broker lost its data\"), or rebuild anyway with --force")
            }
            try tx.query("DELETE FROM public.sagas")
            try tx.query("DELETE FROM public.saga_events")
            try tx.query("INSERT INTO public.saga_events SELECT * FROM \(unsafeRaw: schema).saga_events")
            try tx.query("INSERT INTO public.sagas SELECT * FROM \(unsafeRaw: schema).sagas")
            try Inbox.replaceEntries(of: consumer, withThoseInSchema: schema, on: tx)
            try tx.query("DROP SCHEMA \(unsafeRaw: schema) CASCADE")
            let sagas: Int = try tx.query("SELECT count(*) AS n FROM public.sagas")[0].decode("n")
            return (sagas, missing)
        }
    }
}
