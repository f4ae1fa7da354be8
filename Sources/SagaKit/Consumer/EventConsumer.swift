import CoreMetrics
import Foundation
import KafkaClient
import Logging
import PGClient
import ServiceLifecycle
import Synchronization
import Tracing

public struct ConsumerConfiguration: Sendable {
    /// The inbox's consumer name: events are deduplicated per name.
    public var name: String
    public var groupID: String
    public var topics: [String]
    /// Messages handled in one database transaction (one commit for the lot).
    public var batchSize: Int = 200
    public var pollTimeout: Duration = .milliseconds(100)
    /// Stored offsets are committed to Kafka at most this often (and always before a rebalance and at shutdown).
    public var commitInterval: Duration = .milliseconds(200)
    /// Backoff between attempts after a failure; the failed messages are redelivered in order.
    public var retryBackoff = Backoff(initial: .milliseconds(50), maximum: .seconds(5))
    /// Attempts for an event whose handler fails with a non-transient error, before it is dead-lettered.
    public var maxAttempts: Int = 5
    /// Failed dead-letter publishes in a row after which each further failure logs an error-level alarm: the
    /// partition waits for the dead letter (nothing is skipped), so an operator must hear about it.
    public var deadLetterAlarmAfter: Int = 5
    /// Send the NOTIFY hint with emitted events.
    public var notifyOnEmit: Bool = true
    /// Where emitted events go; `topics` above are already physical names.
    public var topicNames = TopicNames()
    /// Stop by itself once caught up: every assigned partition read to its high watermark and nothing new for
    /// this long. For one-off runs such as a projection rebuild; nil (the default) runs until shut down.
    public var stopWhenCaughtUpFor: Duration?
    /// How often the lag gauges are refreshed (from what librdkafka already knows: no request).
    public var lagSampleInterval: Duration = .seconds(5)
    /// The fault option `SAGAKIT_DEAD_LETTER_SAGAS` (`DeadLetterFault`): events of these sagas are dead-lettered
    /// unread. None by default.
    public var deadLetterSagas: FaultMatcher = .none

    public init(name: String, groupID: String, topics: [String]) {
        self.name = name
        self.groupID = groupID
        self.topics = topics
    }
}

/// Consumes topics and applies each event once: poll → decode and validate → handle in a transaction (with its
/// inbox row and emitted events) → store the offset.
///
/// A batch of polled messages shares one transaction. Undecodable or invalid messages go to the dead-letter
/// topic and the consumer moves on. When a transaction fails, the batch's partitions are rewound to their first
/// unfinished message and retried after a backoff, so order within a partition holds; a handler that keeps
/// failing on one event gets that event dead-lettered after `maxAttempts`.
public final class EventConsumer: Service, Sendable {
    public let configuration: ConsumerConfiguration
    private let serviceName: String
    private let kafka: KafkaConfiguration
    private let database: PGConfig
    private let registry: EventRegistry
    private let handlers: EventHandlers
    private let producer: ProducerHandle
    private let logger: Logger
    private let shutdown = ShutdownSignal()
    private let counters = Mutex(Counters())
    private let metrics: ConsumerMetrics
    private let health: ServiceHealth?
    /// The tracer, looked up once: nil when none is bootstrapped, and then no span is made (see `SagaTracing`).
    private let tracer: (any Tracer)?

    public struct Counters: Sendable, Hashable {
        public var applied = 0
        public var duplicates = 0
        public var ignored = 0
        public var deadLettered = 0
        public var retries = 0
        /// Dead-letter publishes that failed (each one rewinds its batch and retries it).
        public var deadLetterFailures = 0
        /// Of those, the ones at or past `deadLetterAlarmAfter` in a row: each logged an error-level alarm.
        public var deadLetterAlarms = 0
    }

    public init(
        configuration: ConsumerConfiguration, serviceName: String, kafka: KafkaConfiguration, database: PGConfig,
        registry: EventRegistry, handlers: EventHandlers, producer: ProducerHandle, logger: Logger,
        health: ServiceHealth? = nil
    ) {
        self.configuration = configuration
        self.serviceName = serviceName
        self.kafka = kafka
        self.database = database
        self.registry = registry
        self.handlers = handlers
        self.producer = producer
        self.health = health
        metrics = ConsumerMetrics(consumer: configuration.name, domainCounters: handlers.emittedCounters)
        tracer = SagaTracing.activeTracer
        health?.consumerStarted(configuration.name)
        var logger = logger
        logger[metadataKey: "consumer"] = .string(configuration.name)
        self.logger = logger
    }

    public var currentCounters: Counters { counters.withLock { $0 } }

    public func run() async throws {
        try await shutdown.run(runUntilShutdown)
    }

    private var stopping: Bool { shutdown.stopping }
    private var doorbell: Doorbell { shutdown.doorbell }

    /// Mutable state of one run, owned by the loop.
    private struct RunState {
        var attempts: [KafkaTopicPartitionOffset: Int] = [:]
        var failures = 0
        /// Dead-letter publishes that failed in a row.
        var deadLetterFailures = 0
        var uncommitted = false
        var lastCommit = ContinuousClock.now
    }

    private func runUntilShutdown() async throws {
        guard let db = await connect() else { return }
        let consumer = try KafkaConsumer(configuration: kafka, groupID: configuration.groupID, clientID: "\(serviceName)-\(configuration.name)", logger: logger)
        try await consumer.subscribe(configuration.topics)
        logger.info("consuming \(configuration.topics.joined(separator: ", ")) as group \(configuration.groupID)")
        var state = RunState()
        var quietSince: ContinuousClock.Instant?
        var lastLagSample = ContinuousClock.now
        while !stopping {
            let messages: [KafkaMessage]
            do {
                messages = try await consumer.poll(maxMessages: configuration.batchSize, timeout: configuration.pollTimeout)
            } catch let error as KafkaError where error.isFatal {
                await consumer.close()
                await db.close()
                throw error
            } catch {
                logger.warning("poll failed: \(error)")
                await doorbell.wait(timeout: configuration.retryBackoff.delay(attempt: 1))
                continue
            }
            for event in await consumer.takeRebalanceEvents() {
                switch event {
                case .revoked(let partitions):
                    let gone = Set(partitions)
                    state.attempts = state.attempts.filter { !gone.contains($0.key.topicPartition) }
                    health?.consumer(configuration.name, assigned: [], revoked: partitions.map(\.description))
                    metrics.lagRevoked(partitions)
                case .assigned(let partitions):
                    health?.consumer(configuration.name, assigned: partitions.map(\.description), revoked: [])
                }
            }
            if ContinuousClock.now - lastLagSample >= configuration.lagSampleInterval {
                lastLagSample = .now
                if let lags = try? await consumer.lag() { metrics.lag(lags) }
            }
            if !messages.isEmpty {
                await handle(messages, consumer: consumer, db: db, state: &state)
                quietSince = nil
            } else if let quiet = configuration.stopWhenCaughtUpFor {
                let now = ContinuousClock.now
                if let since = quietSince, now - since >= quiet, (try? await consumer.isCaughtUp()) == true {
                    break
                }
                quietSince = quietSince ?? now
            }
            await commitIfDue(consumer, &state)
        }
        await consumer.close()
        await db.close()
        logger.info("consumer stopped")
    }

    private func connect() async -> PGConnection? {
        await PGConnection.connect(database, retrying: configuration.retryBackoff, who: "consumer", doorbell: doorbell, logger: logger) {
            stopping
        }
    }

    private func commitIfDue(_ consumer: KafkaConsumer, _ state: inout RunState) async {
        guard state.uncommitted, ContinuousClock.now - state.lastCommit >= configuration.commitInterval else { return }
        do {
            try await consumer.commit()
            state.uncommitted = false
            state.lastCommit = .now
        } catch {
            logger.warning("offset commit failed: \(error)")
        }
    }

    // MARK: - Batches

    private enum Item: Sendable {
        case event(DecodedEvent)
        case poison(String)
        /// A known event type this consumer has no handler for.
        case ignored(EventEnvelope)
    }

    struct DecodedEvent: Sendable {
        let message: KafkaMessage
        let envelope: EventEnvelope
        let event: any SagaEvent
        let trace: TraceContext?
        /// When the batch was polled (decoded right after), for the inbox's per-stage times.
        let polledAt: Date
    }

    private enum Outcome: Sendable {
        case applied(emitted: [String], note: String?, afterCommit: [@Sendable () -> Void], compensations: [EventContext.Compensation])
        case duplicate
    }

    private enum BatchResult {
        case committed
        /// Failed, not worth retrying as a whole: the batch mixes events and one of them is the problem.
        case isolate
        /// Failed: rewind and retry after a backoff.
        case retry
    }

    private func decode(_ message: KafkaMessage, polledAt: Date) -> Item {
        switch IncomingMessage.classify(message, registry: registry, handlers: handlers) {
        case .invalid(let reason):
            return .poison(reason)
        case .ignored(let envelope):
            return .ignored(envelope)
        case .event(let envelope, _) where configuration.deadLetterSagas.matches(envelope.sagaID):
            return .poison(DeadLetterFault.reason)
        case .event(let envelope, let event):
            return .event(DecodedEvent(
                message: message, envelope: envelope, event: event,
                trace: message.headers.string(TraceContext.headerName).flatMap(TraceContext.init(traceparent:)), polledAt: polledAt
            ))
        }
    }

    /// Handles a polled batch; on failure, rewinds what is unfinished so it is polled again in order.
    private func handle(_ messages: [KafkaMessage], consumer: KafkaConsumer, db: PGConnection, state: inout RunState) async {
        let polledAt = Date()
        let items = messages.map { decode($0, polledAt: polledAt) }
        CrashPoint.consumerAfterPollBeforeTransaction.hit()
        var result = await processBatch(messages, items, consumer: consumer, db: db, state: &state)
        var unfinishedFrom = 0
        if result == .isolate {
            // One event at a time, to find the one that fails and let the others through.
            result = .committed
            for index in messages.indices {
                let single = await processBatch([messages[index]], [items[index]], consumer: consumer, db: db, state: &state)
                if single != .committed {
                    unfinishedFrom = index
                    result = .retry
                    break
                }
            }
        }
        guard result == .retry else {
            state.failures = 0
            return
        }
        let plan = OffsetPlan(messages: messages) { $0 < unfinishedFrom }
        do {
            try await consumer.seek(plan.seek)
        } catch {
            logger.error("cannot rewind after a failure: \(error)")
        }
        state.failures += 1
        counters.withLock { $0.retries += 1 }
        metrics.retries.increment()
        let delay = configuration.retryBackoff.delay(attempt: state.failures)
        await doorbell.wait(timeout: delay)
    }

    /// The message's timestamp as a date, when it is one PostgreSQL stores (years 1970 to 9999): the producer
    /// sets it, and an absurd one must not fail the event's transaction.
    static func producedAt(_ milliseconds: Int64) -> Date? {
        (0...253_402_300_799_999).contains(milliseconds) ? Date(timeIntervalSince1970: Double(milliseconds) / 1000) : nil
    }

    private func processBatch(
        _ messages: [KafkaMessage], _ items: [Item], consumer: KafkaConsumer, db: PGConnection, state: inout RunState
    ) async -> BatchResult {
        let started = ContinuousClock.now
        // With a tracer on, one `process` span per event or dead letter, for this attempt; nil (and free) otherwise.
        var spans = tracer.map { ProcessSpans(tracer: $0, groupID: configuration.groupID) }
        defer { spans?.failAll(outcome: "unfinished", reason: "the batch ended without an outcome for this message") }
        var deadLettered: [Int: String] = [:]
        // Each event's position in the batch, for its span: left empty, and never read, with tracing off.
        var eventIndices: [Int] = []
        for (index, item) in items.enumerated() {
            switch item {
            case .poison(let reason):
                deadLettered[index] = reason
                spans?.start(index, message: messages[index], envelope: nil)
            case .event(let event) where spans != nil:
                eventIndices.append(index)
                spans?.start(index, message: event.message, envelope: event.envelope)
            case .event, .ignored:
                break
            }
        }
        if !deadLettered.isEmpty {
            // All of the batch's bad messages in one produce: a flood of them costs one round trip per batch.
            let entries = deadLettered.keys.sorted().map { (messages[$0], deadLettered[$0]!) }
            do {
                try await deadLetter(entries, state: &state)
            } catch {
                spans?.failAll(outcome: "retried", reason: "dead-letter publish failed: \(error)")
                return .retry
            }
            for (index, reason) in deadLettered { spans?.failed(index, outcome: "dead_lettered", reason: reason) }
        }

        let events = items.compactMap { item -> DecodedEvent? in
            if case .event(let event) = item { return event }
            return nil
        }
        var outcomes: [Outcome] = []
        if !events.isEmpty {
            do {
                outcomes = try await apply(events, emitTraces: spans.map { spans in eventIndices.map { spans.trace($0) } }, db: db)
                metrics.batchDuration.recordNanoseconds(Int64((ContinuousClock.now - started).seconds * 1e9))
                let committedAt = DefaultTracerClock.now
                for (position, outcome) in outcomes.enumerated() {
                    // Optional chaining: with tracing off, the arguments are not even evaluated.
                    switch outcome {
                    case .applied(let emitted, let note, let actions, let compensations):
                        metrics.emitted(emitted)
                        for action in actions { action() }
                        spans?.committed(eventIndices[position], outcome: note ?? "applied", compensations: compensations, at: committedAt)
                    case .duplicate:
                        spans?.committed(eventIndices[position], outcome: "duplicate", compensations: [], at: committedAt)
                    }
                }
            } catch {
                if error.isTransient {
                    logger.warning("transaction failed, will retry: \(error)")
                    spans?.failAll(outcome: "retried", reason: "transaction failed: \(error)")
                    return .retry
                }
                if events.count > 1 {
                    spans?.failAll(outcome: "retried", reason: "batch failed, retried one event at a time: \(error)")
                    return .isolate
                }
                let event = events[0]
                let position = KafkaTopicPartitionOffset(topic: event.message.topic, partition: event.message.partition, offset: event.message.offset)
                let attempts = (state.attempts[position] ?? 0) + 1
                state.attempts[position] = attempts
                guard attempts >= configuration.maxAttempts else {
                    var metadata = eventMetadata(event.envelope)
                    if let traceID = spans?.trace(eventIndices[0])?.traceID ?? event.trace?.traceID { metadata["trace_id"] = .string(traceID) }
                    logger.warning("handler failed (attempt \(attempts) of \(configuration.maxAttempts)): \(error)", metadata: metadata)
                    spans?.failAll(outcome: "retried", reason: "handler failed (attempt \(attempts) of \(configuration.maxAttempts)): \(error)")
                    return .retry
                }
                let reason = "handler failed \(attempts) times: \(error)"
                do {
                    try await deadLetter([(event.message, reason)], state: &state)
                } catch {
                    spans?.failAll(outcome: "retried", reason: "dead-letter publish failed: \(error)")
                    return .retry
                }
                spans?.failAll(outcome: "dead_lettered", reason: reason)
                state.attempts[position] = nil
                deadLettered[messages.firstIndex { $0.offset == event.message.offset && $0.topicPartition == event.message.topicPartition } ?? 0] = reason
            }
        }
        CrashPoint.consumerAfterCommitBeforeOffset.hit()
        // An event that failed before and has now committed is done with its count (else one entry would stay per
        // such event for the life of the process).
        if !state.attempts.isEmpty {
            for message in messages {
                state.attempts[KafkaTopicPartitionOffset(topic: message.topic, partition: message.partition, offset: message.offset)] = nil
            }
        }
        let plan = OffsetPlan(messages: messages) { _ in true }
        do {
            try await consumer.storeOffsets(plan.store)
            state.uncommitted = true
        } catch {
            // The effects are committed; redelivery would be absorbed by the inbox.
            logger.warning("offset store failed: \(error)")
        }
        CrashPoint.consumerAfterOffsetStore.hit()
        logOutcomes(items, outcomes: outcomes, deadLettered: deadLettered, messages: messages, spans: spans, duration: ContinuousClock.now - started)
        return .committed
    }

    /// The batch's one transaction: claim inbox rows, run handlers for the new events in order, append what they
    /// emitted. `emitTraces[i]`, with a tracer on, is the `traceparent` of `events[i]`'s `process` span, which
    /// the events its handler emits store.
    private func apply(_ events: [DecodedEvent], emitTraces: [TraceContext?]?, db: PGConnection) async throws -> [Outcome] {
        let consumerName = configuration.name
        let handlers = self.handlers
        let serviceName = self.serviceName
        let topicNames = configuration.topicNames
        let notifyOnEmit = configuration.notifyOnEmit
        // The claim is the body's first statement, so BEGIN can travel with it.
        let outcomes = try await db.withTransaction(deferBegin: true) { tx in
            var fresh = try Inbox.claim(events.map { event in
                Inbox.Entry(
                    eventID: event.envelope.eventID, eventType: event.envelope.eventType, sagaID: event.envelope.sagaID,
                    topic: event.message.topic, partition: event.message.partition, offset: event.message.offset,
                    producedAt: event.message.timestampMilliseconds.flatMap(Self.producedAt), polledAt: event.polledAt
                )
            }, consumer: consumerName, on: tx)
            // New events, in order, cut into runs that share a handler: each run is one handler call.
            var outcomes = [Outcome?](repeating: .duplicate, count: events.count)
            var runs: [(registration: EventHandlers.Registration, indices: [Int])] = []
            for (index, event) in events.enumerated() where fresh.remove(event.envelope.eventID) != nil {
                let registration = handlers.registration(for: event.envelope.eventType)!
                outcomes[index] = nil
                if let last = runs.last, last.registration.id == registration.id, Self.onlyDuplicatesBetween(last.indices.last!, index, outcomes) {
                    runs[runs.count - 1].indices.append(index)
                } else {
                    runs.append((registration, [index]))
                }
            }
            if let prepare = handlers.preparation, !runs.isEmpty {
                try prepare(outcomes.indices.filter { outcomes[$0] == nil }.map { events[$0].event }, tx)
            }
            var emitted: [OutboxMessage] = []
            for run in runs {
                var contexts = run.indices.map { index in
                    let event = events[index]
                    var context = EventContext(
                        envelope: event.envelope, topic: event.message.topic, partition: event.message.partition,
                        offset: event.message.offset, trace: event.trace, producer: serviceName, topics: topicNames
                    )
                    context.emitTrace = emitTraces?[index]
                    context.consumer = consumerName
                    return context
                }
                try run.registration.run(run.indices.map { events[$0].event }, &contexts, tx)
                for (index, context) in zip(run.indices, contexts) {
                    emitted += context.emitted
                    outcomes[index] = .applied(
                        emitted: context.emitted.map(\.envelope.eventType), note: context.outcome, afterCommit: context.afterCommit,
                        compensations: context.compensationRecords)
                }
            }
            // The relay's wake-up goes after the commit, in the commit's round trip: a NOTIFY inside the
            // transaction would make this commit wait for every other notifying commit in the cluster (see
            // Outbox.wakeRelay).
            try Outbox.append(emitted, notify: false, on: tx)
            if notifyOnEmit, !emitted.isEmpty { tx.afterCommit(Outbox.wakeRelayQuery) }
            CrashPoint.consumerBeforeCommit.hit()
            return outcomes.map { $0 ?? .duplicate }
        }
        return outcomes
    }

    /// Whether every event strictly between two positions is a duplicate: a duplicate does not end a run.
    private static func onlyDuplicatesBetween(_ from: Int, _ to: Int, _ outcomes: [Outcome?]) -> Bool {
        outcomes[(from + 1)..<to].allSatisfy { $0 != nil }
    }

    /// Publishes to the dead-letter topics and returns once the broker has all of them; throws if any failed, so
    /// the batch is retried (a message dead-lettered twice is harmless, a lost one is not).
    ///
    /// A publish that keeps failing blocks its partitions: the messages stay at their offsets and nothing behind
    /// them is consumed. That is the price of losing nothing (see docs/ARCHITECTURE.md), so from
    /// `deadLetterAlarmAfter` failures in a row every further one is an error-level alarm and a counter.
    private func deadLetter(_ entries: [(message: KafkaMessage, reason: String)], state: inout RunState) async throws {
        let outcomes = await producer.send(entries.map {
            DeadLetters.message(for: $0.message, reason: $0.reason, service: serviceName, consumer: configuration.name)
        })
        for (entry, outcome) in zip(entries, outcomes) {
            guard case .failure(let error) = outcome else { continue }
            state.deadLetterFailures += 1
            let failures = state.deadLetterFailures
            let alarm = failures >= configuration.deadLetterAlarmAfter
            counters.withLock {
                $0.deadLetterFailures += 1
                if alarm { $0.deadLetterAlarms += 1 }
            }
            metrics.deadLetterFailures.increment()
            let metadata: Logger.Metadata = [
                "topic": .string(entry.message.topic), "partition": .stringConvertible(entry.message.partition),
                "offset": .stringConvertible(entry.message.offset), "dead_letter_topic": .string(DeadLetters.topic(for: entry.message.topic)),
            ]
            if alarm {
                logger.error("dead-letter publish failing for \(failures) attempts, partition blocked: \(error)", metadata: metadata)
            } else {
                logger.warning("dead-letter publish failed (attempt \(failures)), will retry: \(error)", metadata: metadata)
            }
            throw error
        }
        state.deadLetterFailures = 0
        counters.withLock { $0.deadLettered += entries.count }
        for (message, reason) in entries {
            // A label from the message's own header only when it names a known type: anyone who can produce to the
            // topic could otherwise mint a metric series per message.
            let labelType = message.headers.string(Outbox.eventTypeHeader).flatMap { registry.contains($0) ? $0 : nil } ?? "unknown"
            metrics.event(topic: message.topic, type: labelType, outcome: "dead_lettered")
            var metadata: Logger.Metadata = [
                "topic": .string(message.topic), "partition": .stringConvertible(message.partition),
                "offset": .stringConvertible(message.offset), "reason": .string(reason),
            ]
            // What the message says it is, from its key and headers: it may not be a valid envelope.
            if let key = message.keyString { metadata["saga_id"] = .string(String(key.prefix(128))) }
            if let eventID = message.headers.string(Outbox.eventIDHeader) { metadata["event_id"] = .string(String(eventID.prefix(64))) }
            if let eventType = message.headers.string(Outbox.eventTypeHeader) { metadata["event_type"] = .string(String(eventType.prefix(128))) }
            if let trace = message.headers.string(TraceContext.headerName).flatMap(TraceContext.init(traceparent:)) {
                metadata["trace_id"] = .string(trace.traceID)
            }
            logger.warning("message dead-lettered", metadata: metadata)
        }
    }

    private func eventMetadata(_ envelope: EventEnvelope) -> Logger.Metadata {
        ["saga_id": .string(envelope.sagaID), "event_type": .string(envelope.eventType), "event_id": .string(envelope.eventID.uuidString.lowercased())]
    }

    /// The same, with the trace a message's `traceparent` header names.
    private func eventMetadata(_ envelope: EventEnvelope, traceparent: String?) -> Logger.Metadata {
        var metadata = eventMetadata(envelope)
        if let trace = traceparent.flatMap(TraceContext.init(traceparent:)) { metadata["trace_id"] = .string(trace.traceID) }
        return metadata
    }

    /// One line per event handled: saga, type, id, trace, outcome and how long its batch took to commit. The trace
    /// is the `process` span's with a tracer on (the same trace as the incoming header's, or a new one when the
    /// message had none), else the incoming header's.
    private func logOutcomes(
        _ items: [Item], outcomes: [Outcome], deadLettered: [Int: String], messages: [KafkaMessage], spans: ProcessSpans?, duration: Duration
    ) {
        var applied = 0
        var duplicates = 0
        var ignored = 0
        // The per-event lines are info: below that level only the counters are kept, and no metadata is built.
        let logging = logger.logLevel <= .info
        let millis = logging ? String(format: "%.2f", duration.seconds * 1000) : ""
        var eventIndex = 0
        for (index, item) in items.enumerated() {
            switch item {
            case .poison:
                continue
            case .ignored(let envelope):
                ignored += 1
                metrics.event(topic: messages[index].topic, type: envelope.eventType, outcome: "ignored")
                logger.trace("event ignored", metadata: eventMetadata(envelope, traceparent: messages[index].headers.string(TraceContext.headerName)))
            case .event(let event) where !logging:
                if eventIndex < outcomes.count {
                    if case .applied = outcomes[eventIndex] { applied += 1 } else { duplicates += 1 }
                    metrics.event(topic: event.message.topic, type: event.envelope.eventType, outcome: Self.outcomeLabel(outcomes[eventIndex]))
                }
                eventIndex += 1
            case .event(let event):
                var metadata = eventMetadata(event.envelope)
                if let traceID = spans?.trace(index)?.traceID ?? event.trace?.traceID { metadata["trace_id"] = .string(traceID) }
                metadata["duration_ms"] = .string(millis)
                metadata["batch"] = .stringConvertible(messages.count)
                if eventIndex < outcomes.count {
                    metrics.event(topic: event.message.topic, type: event.envelope.eventType, outcome: Self.outcomeLabel(outcomes[eventIndex]))
                    switch outcomes[eventIndex] {
                    case .applied(let emitted, let note, _, let compensations):
                        applied += 1
                        metadata["outcome"] = .string(note ?? "applied")
                        if !emitted.isEmpty { metadata["emitted"] = .string(emitted.joined(separator: ",")) }
                        if !compensations.isEmpty { metadata["compensation"] = .string(compensations.map(\.name).joined(separator: ",")) }
                    case .duplicate:
                        duplicates += 1
                        metadata["outcome"] = "duplicate"
                    }
                } else if deadLettered[index] != nil {
                    metadata["outcome"] = "dead_lettered"
                }
                eventIndex += 1
                logger.info("event handled", metadata: metadata)
            }
        }
        counters.withLock {
            $0.applied += applied
            $0.duplicates += duplicates
            $0.ignored += ignored
        }
    }

    private static func outcomeLabel(_ outcome: Outcome) -> String {
        if case .applied = outcome { return "applied" }
        return "duplicate"
    }
}
