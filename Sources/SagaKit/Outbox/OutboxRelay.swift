import CoreMetrics
import Foundation
import KafkaClient
import Logging
import PGClient
import ServiceLifecycle
import Synchronization
import Tracing

public struct OutboxRelayConfiguration: Sendable {
    /// Rows per publish batch.
    public var batchSize: Int = 500
    /// How often the relay looks for rows when no notification woke it: the correctness path.
    public var pollInterval: Duration = .milliseconds(500)
    /// LISTEN for the append hint and look at once.
    public var listen: Bool = true
    /// The least time between the starts of two batches while rows keep coming (Kafka's `linger.ms`, one level
    /// up): the first row after a quiet spell goes at once, later ones gather into fewer, larger produce requests.
    /// A broker whose cost is per request (Tansu's is) then carries more for the same CPU. A full batch never waits.
    public var linger: Duration = .zero
    /// How long the active relay's lease lasts without renewal; a standby takes over after that.
    public var leaseDuration: Duration = .seconds(5)
    /// Published rows older than this are deleted (kept until then for `outbox republish`).
    public var outboxRetention: Duration = .seconds(7 * 24 * 3600)
    /// Inbox rows older than this are deleted; replays reaching further back are refused without `--force`.
    public var inboxRetention: Duration = .seconds(7 * 24 * 3600)
    public var maintenanceInterval: Duration = .seconds(60)
    /// Rows retention deletes from each table in one statement: a pass holds up publishing for one such statement
    /// per table, never for a whole backlog.
    public var retentionBatchSize = 10_000
    /// After a pass that left expired rows behind (a full batch), the next comes this soon instead of a
    /// `maintenanceInterval` later, so retention keeps up with any rate below a batch per table per this interval.
    public var retentionCatchUpInterval: Duration = .seconds(1)
    /// How often the active relay samples the backlog (rows pending, the oldest one's age) for its gauges.
    public var backlogSampleInterval: Duration = .seconds(5)
    /// Backoff after a failed cycle (broker or database away).
    public var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(5))
    /// Stop by itself once every row with an id up to this one is published (or parked), by this relay or by the
    /// active one when another holds the lease: for one-off runs such as `outbox recover`, which must not chase the
    /// rows a running service keeps appending. Nil (the default) runs until shut down.
    public var drainThrough: Int64?

    public init() {}
}

/// Publishes outbox rows to Kafka, in outbox order, in batches, and marks them published only after the broker
/// acknowledged them.
///
/// One relay per database is active at a time: it holds the lease row and renews it in every marking
/// transaction. A relay that lost the lease (paused past its expiry, cut off) finds out in that transaction and
/// rolls back, so it can publish a duplicate but never mark a row someone else has not sent. Rows are picked by
/// `published_at IS NULL`, so a row whose id was taken before, but committed after, a later row is still sent.
public final class OutboxRelay: Service, Sendable {
    public let configuration: OutboxRelayConfiguration
    private let database: PGConfig
    private let producer: ProducerHandle
    private let logger: Logger
    /// Unique per process, so a restarted relay never mistakes an old lease for its own.
    public let holderID: String
    private let shutdown = ShutdownSignal()
    private let stats = Mutex(RelayStats())
    private let metrics = RelayMetrics()
    private let health: ServiceHealth?
    /// The tracer, looked up once: nil when none is bootstrapped, and then rows go out with their stored
    /// `traceparent` as they always did (see `SagaTracing`).
    private let tracer: (any Tracer)?

    public struct RelayStats: Sendable, Hashable {
        public var published = 0
        public var batches = 0
        public var isLeader = false
    }

    /// `health` hears the lease state, for readiness.
    public init(
        configuration: OutboxRelayConfiguration = .init(), database: PGConfig, producer: ProducerHandle, logger: Logger,
        health: ServiceHealth? = nil
    ) {
        self.configuration = configuration
        self.health = health
        health?.relayLease(.unknown)
        self.database = database
        self.producer = producer
        var logger = logger
        logger[metadataKey: "component"] = "relay"
        self.logger = logger
        holderID = "\(ProcessInfo.processInfo.hostName)-\(getpid())-\(UUID().uuidString.prefix(8))"
        tracer = SagaTracing.activeTracer
    }

    public var currentStats: RelayStats { stats.withLock { $0 } }

    public func run() async throws {
        try await shutdown.run(runUntilShutdown)
    }

    private var stopping: Bool { shutdown.stopping }
    private var doorbell: Doorbell { shutdown.doorbell }

    private func runUntilShutdown() async throws {
        guard let db = await connect() else { return }
        let listener = configuration.listen ? PGListener(config: database, channels: [Outbox.notifyChannel], logger: logger) : nil
        let listening = listener.map { listener in
            Task { [doorbell] in
                for await _ in listener.events { doorbell.ring() }
            }
        }

        var lease: RelayLease? = nil
        var failures = 0
        var lastMaintenance = ContinuousClock.now - configuration.maintenanceInterval
        var maintenanceDue = configuration.maintenanceInterval
        var retention = RetentionProgress()
        var lastBacklogSample = ContinuousClock.now - configuration.backlogSampleInterval
        var lastBatchStart: ContinuousClock.Instant?
        var lastBatchFull = false
        while !stopping {
            var more = false
            if let last = lastBatchStart, !lastBatchFull, configuration.linger > .zero, last + configuration.linger > .now {
                // Deliberately deaf to the doorbell: waking early is what lingering avoids. Short by design.
                try? await Task.sleep(until: last + configuration.linger, clock: .continuous)
            }
            let batchStart = ContinuousClock.now
            do {
                if lease == nil || lease!.needsRenewal(leaseDuration: configuration.leaseDuration) {
                    let held = lease != nil
                    lease = try await RelayLease.acquireOrRenew(lease, holder: holderID, duration: configuration.leaseDuration, on: db)
                    leaseChanged(held: lease != nil, before: held)
                    if lease == nil { logger.debug("relay standing by: another relay holds the lease") }
                }
                if let current = lease {
                    let published = try await publishBatch(lease: current, db: db)
                    if let through = configuration.drainThrough, try await Outbox.pendingCount(through: through, on: db) == 0 { break }
                    more = published == .full
                    lastBatchFull = more
                    if published != .empty { lastBatchStart = batchStart }
                    if ContinuousClock.now - lastMaintenance >= maintenanceDue {
                        lastMaintenance = .now
                        let behind = try await deleteExpired(db: db, progress: &retention)
                        maintenanceDue = behind ? configuration.retentionCatchUpInterval : configuration.maintenanceInterval
                    }
                    if ContinuousClock.now - lastBacklogSample >= configuration.backlogSampleInterval {
                        lastBacklogSample = .now
                        let backlog = try await Outbox.backlog(on: db)
                        metrics.pendingRows.record(backlog.rows)
                        metrics.oldestPendingAge.record(backlog.oldestAge.seconds)
                        metrics.parkedCompensations.record(try await ParkedCompensations.parkedCount(on: db))
                    }
                }
                if lease == nil, let through = configuration.drainThrough, try await Outbox.pendingCount(through: through, on: db) == 0 { break }
                failures = 0
            } catch is RelayLease.Lost {
                logger.warning("relay lease lost; another relay is active")
                lease = nil
                leaseChanged(held: false, before: true)
            } catch {
                failures += 1
                metrics.errors.increment(["cycle"])
                if lease == nil { health?.relayLease(.unknown) }
                let delay = configuration.backoff.delay(attempt: failures)
                logger.warning("relay cycle failed (attempt \(failures)), retrying in \(delay): \(error)")
                await doorbell.wait(timeout: delay)
                continue
            }
            if lease == nil {
                // A standby checks the lease on its own schedule. Wake-ups after commits are for the active relay:
                // answering each with a lease query cost hundreds of useless statements a second per standby.
                let deadline = ContinuousClock.now + min(configuration.pollInterval, configuration.leaseDuration / 2)
                while !stopping, ContinuousClock.now < deadline {
                    await doorbell.wait(timeout: deadline - .now)
                }
            } else if !more {
                await doorbell.wait(timeout: configuration.pollInterval)
            }
        }
        if let lease {
            // Let a standby take over now rather than after the lease expires.
            try? await RelayLease.release(lease, on: db)
            leaseChanged(held: false, before: true)
        }
        listener?.stop()
        listening?.cancel()
        await db.close()
    }

    /// Records the lease for readiness, the gauge and the takeover count.
    private func leaseChanged(held: Bool, before: Bool) {
        stats.withLock { $0.isLeader = held }
        metrics.leaseHeld.record(held ? 1 : 0)
        if held, !before { metrics.takeovers.increment() }
        health?.relayLease(held ? .active : .standby)
    }

    private func connect() async -> PGConnection? {
        // The relay's writes need not wait for the WAL flush: a mark lost to a server crash only means the row is
        // published again (consumers' inboxes absorb it), and a lost lease renewal only means the lease is checked
        // again in the next marking transaction. That leaves the durable commits to the transactions that need them.
        var config = database
        config.sessionSettings["synchronous_commit"] = "off"
        return await PGConnection.connect(config, retrying: configuration.backoff, who: "relay", doorbell: doorbell, logger: logger) {
            stopping
        }
    }

    private struct PendingRow: Sendable {
        let id: Int64
        let topic: String
        let key: String
        let eventType: String
        let eventID: String
        let payload: String
        let traceparent: String?
    }

    private enum BatchOutcome {
        case empty, partial
        /// A full batch was read: more may wait.
        case full
    }

    /// One batch: read, publish, await acknowledgements, mark.
    private func publishBatch(lease: RelayLease, db: PGConnection) async throws -> BatchOutcome {
        let limit = configuration.batchSize
        let rows = try await fetchPending(limit: limit, db: db)
        guard !rows.isEmpty else {
            return .empty
        }
        CrashPoint.relayAfterFetchBeforePublish.hit()
        let sent = ContinuousClock.now
        var messages = rows.map(Self.message(for:))
        // With a tracer on, a `publish` span per row, whose context replaces the stored one in the message's header.
        let spans = tracer.map { tracer in rows.indices.map { Self.startPublishSpan(rows[$0], message: &messages[$0], tracer: tracer) } }
        let outcomes = await producer.send(messages)
        metrics.publishDuration.recordNanoseconds(Int64((ContinuousClock.now - sent).seconds * 1e9))
        if let spans { Self.endPublishSpans(spans, outcomes: outcomes) }
        CrashPoint.relayAfterAckBeforeMark.hit()
        let sorted = SortedOutcomes(rows: rows, outcomes: outcomes)
        try await mark(sorted, lease: lease, db: db)
        lease.renewed()
        stats.withLock {
            $0.published += sorted.deliveredIDs.count
            $0.batches += 1
        }
        metrics.delivered(topics: sorted.deliveredTopics)
        metrics.parked.increment(by: sorted.parkedRows.count)
        if !sorted.failedRows.isEmpty { metrics.errors.increment(["publish"], by: sorted.failedRows.count) }
        if !sorted.parkedRows.isEmpty {
            // One line per parked event (rare, and each needs an operator), naming it and its trace.
            let positions = Dictionary(rows.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
            for (index, (id, reason)) in sorted.parkedRows.enumerated() {
                guard let position = positions[id] else { continue }
                var metadata = Self.rowMetadata(rows[position], messages[position])
                metadata["reason"] = .string(reason)
                logger.error("relay parked an event the broker refused for good (\(index + 1) of \(sorted.parkedRows.count)); see `outbox status`", metadata: metadata)
            }
        }
        if !sorted.failedRows.isEmpty {
            try await handleFailures(sorted.failedRows, rows: rows, outcomes: outcomes)
        }
        logger.debug("published \(sorted.deliveredIDs.count) events")
        return rows.count == limit ? .full : .partial
    }

    /// The oldest unpublished, unparked rows, in id order.
    private func fetchPending(limit: Int, db: PGConnection) async throws -> [PendingRow] {
        try await db.query("""
            SELECT id, topic, message_key, event_type, event_id, payload, traceparent FROM sagakit_outbox
            WHERE published_at IS NULL AND parked_at IS NULL
            ORDER BY id LIMIT \(limit)
            """).map { row in
            PendingRow(
                id: try row.decode("id"), topic: try row.decode("topic"), key: try row.decode("message_key"),
                eventType: try row.decode("event_type"), eventID: try row.decode("event_id"),
                payload: try row.decode("payload"), traceparent: try row.decode("traceparent")
            )
        }
    }

    /// What a log line about a row names: its saga, event and trace (the header as sent, when there is one).
    private static func rowMetadata(_ row: PendingRow, _ message: KafkaOutgoingMessage) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "saga_id": .string(row.key), "event_type": .string(row.eventType), "event_id": .string(row.eventID), "topic": .string(row.topic),
        ]
        let traceparent = message.headers.string(TraceContext.headerName) ?? row.traceparent
        if let trace = traceparent.flatMap(TraceContext.init(traceparent:)) { metadata["trace_id"] = .string(trace.traceID) }
        return metadata
    }

    /// Starts the `publish` span of a row, a `producer` span whose parent is the context the row's stored
    /// `traceparent` names (the intake's or a `process` span), and writes its context into the message's headers.
    private static func startPublishSpan(_ row: PendingRow, message: inout KafkaOutgoingMessage, tracer: any Tracer) -> any Span {
        let parent = SagaTracing.context(traceparent: row.traceparent, using: tracer)
        let span = tracer.startSpan(SagaTracing.publishSpanName(topic: row.topic), context: parent, ofKind: .producer)
        span.updateAttributes { attributes in
            attributes[SagaTracing.Attribute.messagingSystem] = "kafka"
            attributes[SagaTracing.Attribute.messagingOperation] = "publish"
            attributes[SagaTracing.Attribute.destination] = row.topic
            attributes[SagaTracing.Attribute.messageKey] = row.key
            SagaTracing.eventAttributes(&attributes, sagaID: row.key, eventType: row.eventType, eventID: row.eventID)
        }
        SagaTracing.inject(span.context, into: &message.headers, using: tracer)
        return span
    }

    /// Ends each row's `publish` span: at its acknowledgement, with the partition and offset it landed at; or with
    /// an error status when the broker refused it (parked, or left for the next cycle).
    private static func endPublishSpans(_ spans: [any Span], outcomes: [Result<KafkaDeliveryReport, KafkaError>]) {
        for (span, outcome) in zip(spans, outcomes) {
            switch outcome {
            case .success(let report):
                span.updateAttributes { attributes in
                    attributes[SagaTracing.Attribute.partition] = Int(report.partition)
                    attributes[SagaTracing.Attribute.offset] = Int(report.offset)
                }
                span.end(at: SagaTracing.instant(report.acknowledgedAt.timeIntervalSince1970))
            case .failure(let error):
                span.attributes[SagaTracing.Attribute.outcome] = isPermanent(error) ? "parked" : "retried"
                span.setStatus(SpanStatus(code: .error, message: error.message))
                span.end()
            }
        }
    }

    /// The row as published: its stored payload's bytes, keyed by saga, with the event type, id and trace headers.
    private static func message(for row: PendingRow) -> KafkaOutgoingMessage {
        var headers = [
            KafkaHeader(name: Outbox.eventTypeHeader, string: row.eventType),
            KafkaHeader(name: Outbox.eventIDHeader, string: row.eventID),
        ]
        if let traceparent = row.traceparent { headers.append(KafkaHeader(name: TraceContext.headerName, string: traceparent)) }
        return KafkaOutgoingMessage(topic: row.topic, key: row.key, value: Array(row.payload.utf8), headers: headers)
    }

    /// A batch's outcomes by what happens to each row: marked published, parked, or left for the next cycle.
    private struct SortedOutcomes: Sendable {
        var deliveredIDs: [Int64] = []
        var deliveredTopics: [String] = []
        /// When each delivered row's acknowledgement arrived, in the order of `deliveredIDs`.
        var ackTimes: [Date] = []
        var parkedRows: [(Int64, String)] = []
        var failedRows: [(Int64, String)] = []

        init(rows: [PendingRow], outcomes: [Result<KafkaDeliveryReport, KafkaError>]) {
            for (row, outcome) in zip(rows, outcomes) {
                switch outcome {
                case .success(let report):
                    deliveredIDs.append(row.id)
                    deliveredTopics.append(row.topic)
                    ackTimes.append(report.acknowledgedAt)
                case .failure(let error) where OutboxRelay.isPermanent(error):
                    parkedRows.append((row.id, error.message))
                case .failure(let error):
                    failedRows.append((row.id, error.message))
                }
            }
        }
    }

    /// Renews the lease and marks the delivered rows in one statement, then records the parked and failed rows'
    /// errors, in one transaction that throws `RelayLease.Lost` if the lease is no longer ours.
    private func mark(_ sorted: SortedOutcomes, lease: RelayLease, db: PGConnection) async throws {
        let duration = configuration.leaseDuration
        try await db.withTransaction(retry: PGRetryPolicy(onConnectionLoss: true), deferBegin: true) { tx in
            // Leadership is checked here, in the transaction that marks: no lease, no marks. One statement renews
            // the lease (locking its row) and marks what was delivered, only if the renewal succeeded.
            let renewed = try tx.query("""
                WITH lease AS (
                  UPDATE sagakit_relay_lease SET expires_at = now() + \(Int(duration.seconds * 1000)) * interval '1 millisecond'
                  WHERE name = 'outbox' AND holder = \(lease.holder) AND epoch = \(lease.epoch)
                  RETURNING 1
                ), marked AS (
                  UPDATE sagakit_outbox o SET published_at = a.acked
                  FROM unnest(\(sorted.deliveredIDs)::bigint[], \(sorted.ackTimes)::timestamptz[]) AS a(id, acked)
                  WHERE o.id = a.id AND o.published_at IS NULL AND EXISTS (SELECT 1 FROM lease)
                )
                SELECT count(*) AS renewed FROM lease
                """)[0].decode("renewed", as: Int.self)
            guard renewed == 1 else { throw RelayLease.Lost() }
            // published_at above is when the broker's acknowledgement arrived: the hop's measure.
            for (id, reason) in sorted.parkedRows {
                try tx.query("UPDATE sagakit_outbox SET parked_at = now(), attempts = attempts + 1, last_error = \(reason) WHERE id = \(id)")
            }
            for (id, reason) in sorted.failedRows {
                try tx.query("UPDATE sagakit_outbox SET attempts = attempts + 1, last_error = \(reason) WHERE id = \(id)")
            }
            CrashPoint.relayAfterMarkBeforeCommit.hit()
        }
    }

    /// Rows that failed transiently stay unpublished: replaces a wedged producer if need be, then throws so the
    /// next cycle comes after a backoff.
    private func handleFailures(
        _ failedRows: [(Int64, String)], rows: [PendingRow], outcomes: [Result<KafkaDeliveryReport, KafkaError>]
    ) async throws -> Never {
        // A producer that let a whole batch time out, or hit a fatal error, is replaced: after a broker lost its
        // state an idempotent producer can stay wedged while a fresh one works at once.
        let allTimedOut = failedRows.count == rows.count && outcomes.allSatisfy {
            if case .failure(let error) = $0 { return error.code == .timeout }
            return false
        }
        let fenced = outcomes.contains {
            if case .failure(let error) = $0, let code = error.responseCode { return Self.producerIdentityCodes.contains(code) }
            return false
        }
        if let fatal = producer.fatalError() {
            await producer.replace(reason: "fatal error: \(fatal.message)")
        } else if fenced {
            // Seen on Tansu when producers start concurrently: two get the same producer id and the older one is
            // fenced for good. librdkafka does not call that fatal for an idempotent producer; retrying cannot help.
            await producer.replace(reason: "the broker fenced the producer or forgot its id")
        } else if allTimedOut {
            await producer.replace(reason: "a whole batch of \(rows.count) timed out")
        }
        // Left unpublished: the next cycle sends them again, after a backoff.
        throw KafkaError(code: .librdkafka, message: "\(failedRows.count) of \(rows.count) events not acknowledged: \(failedRows[0].1)")
    }

    /// Errors a retry cannot fix: the row is parked for an operator instead of blocking every row behind it.
    /// librdkafka reports a message above `message.max.bytes` with the broker's code, `messageSizeTooLarge`.
    static func isPermanent(_ error: KafkaError) -> Bool {
        guard let code = error.responseCode else { return false }
        return permanentCodes.contains(code)
    }

    private static let permanentCodes: Set<KafkaError.ResponseCode> = [.messageSizeTooLarge, .invalidRecord, .invalidMessage]

    /// Failures that say the producer's identity is spent: the producer is replaced, the rows sent again.
    private static let producerIdentityCodes: Set<KafkaError.ResponseCode> = [.producerFenced, .invalidProducerEpoch, .unknownProducerID]

    /// Rows deleted by a run of retention passes that each found a full batch, logged once the run ends.
    private struct RetentionProgress {
        var outbox = 0
        var inbox = 0
    }

    /// Deletes one batch of expired rows from each table. Returns whether either batch was full: more are waiting.
    private func deleteExpired(db: PGConnection, progress: inout RetentionProgress) async throws -> Bool {
        let limit = configuration.retentionBatchSize
        let outboxCutoff = Date().addingTimeInterval(-configuration.outboxRetention.seconds)
        let inboxCutoff = Date().addingTimeInterval(-configuration.inboxRetention.seconds)
        let outbox = try await db.query("""
            DELETE FROM sagakit_outbox WHERE id IN (
              SELECT id FROM sagakit_outbox WHERE published_at < \(outboxCutoff) ORDER BY published_at LIMIT \(limit))
            """).affectedRows
        let inbox = try await db.withTransaction { tx in
            let deleted = try tx.query("""
                DELETE FROM sagakit_inbox WHERE ctid IN (
                  SELECT ctid FROM sagakit_inbox WHERE processed_at < \(inboxCutoff) LIMIT \(limit))
                """).affectedRows
            if deleted > 0 {
                // From now on the inbox no longer remembers everything before the cut-off: replays must stop there.
                try tx.query("""
                    INSERT INTO sagakit_retention (name, purged_before) VALUES ('inbox', \(inboxCutoff))
                    ON CONFLICT (name) DO UPDATE SET purged_before = greatest(sagakit_retention.purged_before, EXCLUDED.purged_before)
                    """)
            }
            return deleted
        }
        progress.outbox += outbox
        progress.inbox += inbox
        let behind = outbox >= limit || inbox >= limit
        if !behind, progress.outbox + progress.inbox > 0 {
            logger.info("retention: deleted \(progress.outbox) published outbox rows and \(progress.inbox) inbox rows")
            progress = RetentionProgress()
        }
        return behind
    }
}
