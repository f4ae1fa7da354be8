import Foundation
import Logging
import Synchronization

/// An idempotent Kafka producer whose `send` returns only when the broker has acknowledged the message.
///
/// Pinned: `enable.idempotence=true` and `acks=all`, so an acknowledged message is on every in-sync replica and
/// retries never duplicate or reorder within a partition. librdkafka's produce call is thread-safe and
/// non-blocking, so `send` enqueues from whatever task calls it; delivery reports are served by a thread this
/// producer owns and resume the waiting tasks.
public final class KafkaProducer: Sendable {
    /// SagaKit's defaults; `KafkaConfiguration` properties override them.
    public static let defaultProperties: [String: String] = [
        // A relay waits for its batch's acknowledgements: ten seconds bounds how long a lost broker holds it.
        "message.timeout.ms": "10000",
        "request.timeout.ms": "10000",
        "socket.keepalive.enable": "true",
        "linger.ms": "1",
    ]
    /// Applied last; the outbox's guarantees depend on them.
    public static let pinnedProperties: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
    ]

    private let client: RDKafkaClient
    private let pollThread: PollThread
    private let logger: Logger

    public init(configuration: KafkaConfiguration, clientID: String, logger: Logger) throws {
        var properties = Self.defaultProperties
        properties["bootstrap.servers"] = configuration.bootstrapServers
        properties["client.id"] = clientID
        properties.merge(configuration.properties) { $1 }
        properties.merge(configuration.producerProperties) { $1 }
        // librdkafka checks the application's values before the pinned ones replace them: `acks=maybe` must fail.
        try RDKafkaClient.validate(properties.sorted { $0.key < $1.key })
        properties.merge(Self.pinnedProperties) { $1 }
        var logger = logger
        logger[metadataKey: "kafka.client"] = .string(clientID)
        self.logger = logger
        client = try RDKafkaClient.makeProducer(properties: properties.sorted { $0.key < $1.key }, logger: logger)
        pollThread = PollThread(client: client, name: "kafka-producer-\(clientID)")
    }

    /// Produces one message and waits for the broker's acknowledgement.
    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            guard let ids = client.context.deliveries.register({ _ in .single(continuation) }, count: 1) else {
                continuation.resume(throwing: KafkaError(code: .shutdown, message: "producer is closed"))
                return
            }
            defer { client.context.deliveries.leave() }
            if let error = client.produce(message, id: ids[0]) {
                client.context.deliveries.resolve(ids[0], .failure(error))
            }
        }
    }

    /// Produces a batch and waits until every message has been acknowledged or has failed. Outcomes are in the
    /// order of `messages`. Messages to one partition keep their relative order.
    public func send(_ messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        if messages.isEmpty { return [] }
        return await withCheckedContinuation { continuation in
            let batch = BatchWaiter(count: messages.count, continuation: continuation)
            guard let ids = client.context.deliveries.register({ .batch(batch, index: $0) }, count: messages.count) else {
                for index in messages.indices {
                    batch.complete(index, .failure(KafkaError(code: .shutdown, message: "producer is closed")))
                }
                return
            }
            defer { client.context.deliveries.leave() }
            for (message, id) in zip(messages, ids) {
                if let error = client.produce(message, id: id) {
                    client.context.deliveries.resolve(id, .failure(error))
                }
            }
        }
    }

    deinit {
        client.context.deliveries.close()
        pollThread.requestClose()
    }

    /// Messages produced but not yet acknowledged.
    public var outstandingCount: Int { client.context.deliveries.pendingCount }

    /// The error that made the producer unusable, if any; nil once it is closing.
    public func fatalError() -> KafkaError? { client.context.deliveries.whileOpen { client.fatalError() } ?? nil }

    /// Refuses further sends, waits up to `timeout` for outstanding deliveries, fails whatever is left, and
    /// destroys the handle on the producer's own thread.
    public func close(timeout: Duration = .seconds(10)) async {
        client.context.deliveries.close()
        await pollThread.close(timeoutMilliseconds: timeout.clampedMilliseconds)
    }
}

/// Serves a producer's callbacks (delivery reports, errors) with librdkafka's poll on a thread of its own, and
/// flushes and destroys the handle there when asked to close.
private final class PollThread: Sendable {
    private struct State {
        var closeRequest: (timeout: Int32, continuation: CheckedContinuation<Void, Never>?)?
        var closed = false
    }

    private let state = Mutex(State())
    private let client: RDKafkaClient

    init(client: RDKafkaClient, name: String) {
        self.client = client
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    /// From a deinit: nobody waits, but the thread still flushes and destroys the handle.
    func requestClose() {
        state.withLock { state in
            if !state.closed && state.closeRequest == nil { state.closeRequest = (5000, nil) }
        }
    }

    func close(timeoutMilliseconds: Int32) async {
        await withCheckedContinuation { continuation in
            let alreadyClosed = state.withLock { state in
                if state.closed { return true }
                state.closeRequest = (timeoutMilliseconds, continuation)
                return false
            }
            if alreadyClosed { continuation.resume() }
        }
    }

    private func run() {
        while true {
            client.poll(timeoutMilliseconds: 50)
            let request = state.withLock { state -> (timeout: Int32, continuation: CheckedContinuation<Void, Never>?)? in
                guard let request = state.closeRequest else { return nil }
                state.closeRequest = nil
                state.closed = true
                return request
            }
            if let request {
                // A send that registered before the close may not have handed its messages over yet: the handle
                // must outlive its produce calls (they never block, so this is short).
                while client.context.deliveries.hasUsers { client.poll(timeoutMilliseconds: 1) }
                if !client.flush(timeoutMilliseconds: request.timeout) {
                    client.context.logger.warning("producer closed with \(client.context.deliveries.pendingCount) messages unacknowledged")
                }
                client.context.deliveries.failAll(KafkaError(code: .shutdown, message: "producer closed before delivery"))
                client.destroy()
                request.continuation?.resume()
                return
            }
        }
    }
}
