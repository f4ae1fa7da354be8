import Foundation
import KafkaClient
import PGClient
import SagaKit
import Testbed
import TestSupport

/// A scratch database and topics for the testbed service, the testbed processes a test starts, and cleanup of
/// all of it.
final class TestbedHarness: @unchecked Sendable {
    // @unchecked: only the test's own task touches `processes`.
    let database: ScratchDatabase
    let topics: ScratchTopics
    private var processes: [ChildProcess] = []

    private init(database: ScratchDatabase, topics: ScratchTopics) {
        self.database = database
        self.topics = topics
    }

    static func with<T>(_ body: (TestbedHarness) async throws -> T) async throws -> T {
        let database = try await ScratchDatabase.create("testbed")
        let topics = try await ScratchTopics.create([TestbedPing.topic, TestbedPong.topic])
        let harness = TestbedHarness(database: database, topics: topics)
        do {
            try await harness.migrate()
            let result = try await body(harness)
            await harness.cleanup()
            return result
        } catch {
            for process in harness.processes {
                print("--- \(process.label) (pid \(process.pid)) ---\n\(process.tail(60))")
            }
            await harness.cleanup()
            throw error
        }
    }

    var environment: [String: String] {
        [
            "TESTBED_DATABASE_URL": database.url,
            "SAGAKIT_TOPIC_PREFIX": topics.prefix,
            "SAGAKIT_LOG_LEVEL": "info",
        ]
    }

    func migrate() async throws {
        try await ChildProcess.run(TestEnvironment.executable("sagakit-testbed"), ["migrate"], environment: environment)
    }

    /// Starts `sagakit-testbed run` with a fast relay poll and a short lease.
    @discardableResult
    func start(_ arguments: [String] = [], environment extra: [String: String] = [:], label: String = "testbed") throws -> ChildProcess {
        let process = try ChildProcess.start(
            TestEnvironment.executable("sagakit-testbed"),
            ["run", "--relay-poll-ms", "100", "--lease-seconds", "3"] + arguments,
            environment: environment.merging(extra) { $1 }, label: label
        )
        processes.append(process)
        return process
    }

    func connect() async throws -> PGConnection {
        try await database.connect()
    }

    func ping(_ sequence: Int, saga: String, note: String? = nil) throws -> OutboxMessage {
        try OutboxMessage(TestbedPing(sequence: sequence, note: note), sagaID: saga, causationID: nil, producer: "test",
                          trace: .newRoot(), topics: topics.names)
    }

    func append(_ messages: [OutboxMessage], notify: Bool = true, on db: PGConnection) async throws {
        try await db.withTransaction { tx in try Outbox.append(messages, notify: notify, on: tx) }
    }

    var pingTopic: String { topics(TestbedPing.topic) }
    var pongTopic: String { topics(TestbedPong.topic) }

    /// Effect rows per event id.
    func effectCounts(on db: PGConnection) async throws -> [UUID: Int] {
        let rows = try await db.query("SELECT event_id, count(*) AS n FROM testbed_effects GROUP BY event_id")
        var counts: [UUID: Int] = [:]
        for row in rows { counts[try row.decode("event_id")] = try row.decode("n") }
        return counts
    }

    func cleanup() async {
        for process in processes { await process.stop() }
        await topics.delete()
        await database.drop()
    }
}

extension KafkaOracle.Message {
    /// The envelope's event id, from the value.
    var eventID: UUID? {
        guard let payload, let envelope = try? EventEnvelope.decode(Array(payload.utf8)) else { return nil }
        return envelope.eventID
    }

    var envelope: EventEnvelope? {
        guard let payload else { return nil }
        return try? EventEnvelope.decode(Array(payload.utf8))
    }
}
