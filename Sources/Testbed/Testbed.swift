import Foundation
import PGClient
import SagaKit

/// A ping: the testbed's input event.
public struct TestbedPing: SagaEvent, Hashable {
    public static let eventType = "TestbedPing"
    public static let schemaVersion = 1
    public static let topic = "testbed.pings"

    public var sequence: Int
    public var note: String?

    public init(sequence: Int, note: String? = nil) {
        self.sequence = sequence
        self.note = note
    }

    public func validate() throws {
        guard sequence >= 0 else { throw EventValidationError("sequence must not be negative") }
    }
}

/// What the testbed emits for each ping it applies.
public struct TestbedPong: SagaEvent, Hashable {
    public static let eventType = "TestbedPong"
    public static let schemaVersion = 1
    public static let topic = "testbed.pongs"

    public var sequence: Int

    public init(sequence: Int) {
        self.sequence = sequence
    }
}

/// A minimal service over SagaKit, for the integration tests: it consumes pings, records one effect row per
/// application, and emits a pong through its outbox. Being a real process, it can be killed at any crash point.
public enum Testbed: SagaParticipant {
    public static let name = "testbed"
    public static let executableName = "sagakit-testbed"
    public static let databaseURLVariable = "TESTBED_DATABASE_URL"
    public static let registry = EventRegistry([TestbedPing.self, TestbedPong.self])

    public struct Configuration: Sendable {
        /// Fail (non-transiently) whenever the ping with this sequence is handled.
        public var failSequence: Int?

        public init(failSequence: Int? = nil) {
            self.failSequence = failSequence
        }
    }

    public static func migrators() throws -> [PGMigrator] {
        [try PGMigrator.load(component: name, bundle: .module)]
    }

    public static func consumers(_ context: ParticipantContext<Configuration>) throws -> [ConsumerDefinition] {
        let failSequence = context.configuration.failSequence
        var handlers = EventHandlers()
        handlers.beforeEachBatch { events, db in
            db.queue("INSERT INTO testbed_batches (sequences) VALUES (\(events.compactMap { ($0 as? TestbedPing)?.sequence })::int[])")
        }
        handlers.on(TestbedPing.self) { ping, context, db in
            if ping.sequence == failSequence {
                throw EventValidationError("the testbed was told to fail on sequence \(ping.sequence)")
            }
            try db.query("""
                INSERT INTO testbed_effects (event_id, saga_id, sequence)
                VALUES (\(context.envelope.eventID), \(context.sagaID), \(ping.sequence))
                """)
            try context.emit(TestbedPong(sequence: ping.sequence))
        }
        return [ConsumerDefinition(name: "pings", topics: [TestbedPing.topic], handlers: handlers)]
    }
}
