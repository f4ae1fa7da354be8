import KafkaClient
import Logging
import Synchronization

/// The producer a service's relay and consumers share, replaceable while they run.
///
/// An idempotent producer can wedge when its broker lost all state (Tansu's memory storage after a restart):
/// every message times out although the broker is back. A fresh producer works at once, so the relay replaces
/// this one when a whole batch timed out or librdkafka reports a fatal error.
public final class ProducerHandle: Sendable {
    private let make: @Sendable () throws -> KafkaProducer
    private let current: Mutex<KafkaProducer>
    private let logger: Logger

    public init(logger: Logger, _ make: @escaping @Sendable () throws -> KafkaProducer) throws {
        self.make = make
        self.logger = logger
        current = Mutex(try make())
    }

    private var producer: KafkaProducer { current.withLock { $0 } }

    /// The current producer's fatal error, if librdkafka reported one: such a producer must be replaced.
    public func fatalError() -> KafkaError? {
        producer.fatalError()
    }

    public func send(_ message: KafkaOutgoingMessage) async throws -> KafkaDeliveryReport {
        try await producer.send(message)
    }

    public func send(_ messages: [KafkaOutgoingMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await producer.send(messages)
    }

    /// Swaps in a new producer; the old one is closed (its pending deliveries fail) in the background.
    public func replace(reason: String) async {
        let fresh: KafkaProducer
        do {
            fresh = try make()
        } catch {
            logger.error("cannot create a new producer: \(error)")
            return
        }
        let old = current.withLock { current in
            defer { current = fresh }
            return current
        }
        logger.warning("producer replaced: \(reason)")
        await old.close(timeout: .seconds(1))
    }

    public func close(timeout: Duration = .seconds(10)) async {
        await producer.close(timeout: timeout)
    }
}
