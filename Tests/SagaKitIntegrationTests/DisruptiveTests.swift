import Foundation
import PGClient
import SagaKit
import Testbed
import Testing
import TestSupport

/// Tests that restart a shared server. `infra/dev test` runs this suite on its own, after all the others.
@Suite("Disruptive", .serialized, .enabled(if: TestEnvironment.hasStack && TestEnvironment.value("SAGAKIT_DISRUPTIVE") == "1"),
       .timeLimit(.minutes(5)))
struct DisruptiveTests {
    @Test("PostgreSQL restarted while relay and consumer run: both reconnect and continue; nothing lost or doubled")
    func postgresRestart() async throws {
        try await TestbedHarness.with { harness in
            let service = try harness.start()
            let retry = PGRetryPolicy(maxAttempts: 60, initialDelay: .milliseconds(100), maxDelay: .seconds(1), onConnectionLoss: true)
            var db = try await harness.connect()
            let before = try (0..<30).map { try harness.ping($0, saga: "saga-\($0 % 3)") }
            try await harness.append(before, on: db)
            try await waitUntil("the first pings applied") { try await harness.effectCounts(on: db).count == before.count }

            // Keep appending while the server goes down (an immediate stop, as a crash) and comes back.
            let writer = Task { () -> [OutboxMessage] in
                let writerDB = try await harness.connect()
                var written: [OutboxMessage] = []
                for i in 0..<40 {
                    let message = try harness.ping(100 + i, saga: "saga-\(i % 3)")
                    // The event id is the idempotency key: a retried append after an ambiguous commit is refused
                    // by the outbox's unique event_id, so check before writing again.
                    try await writerDB.withTransaction(retry: retry) { tx in
                        let exists = try tx.query("SELECT 1 FROM sagakit_outbox WHERE event_id = \(message.envelope.eventID)")
                        if exists.isEmpty { try Outbox.append([message], on: tx) }
                    }
                    written.append(message)
                    try await Task.sleep(for: .milliseconds(50))
                }
                await writerDB.close()
                return written
            }
            try await Task.sleep(for: .milliseconds(500))
            try await ChildProcess.run(URL(fileURLWithPath: TestEnvironment.devScript), ["pg-restart"], timeout: .seconds(60))
            let during = try await writer.value

            await db.close()
            db = try await eventually("postgres back") { try? await harness.connect() }
            let all = before + during
            try await waitUntil("every ping applied after the restart", timeout: .seconds(60)) {
                try await harness.effectCounts(on: db).count == all.count
            }
            #expect(try await harness.effectCounts(on: db).values.allSatisfy { $0 == 1 }, "nothing doubled")
            try await waitUntil("the outbox drained") { try await Outbox.status(on: db).pending == 0 }
            let pongs = try await KafkaOracle.waitForMessages(harness.pongTopic, count: all.count)
            let sequences = Set(try pongs.compactMap(\.envelope).map { try EventCoding.decodePayload(TestbedPong.self, from: $0.payload).sequence })
            #expect(sequences == Set(all.map { try! EventCoding.decodePayload(TestbedPing.self, from: $0.envelope.payload).sequence }), "nothing lost")
            #expect(service.isRunning, "the service rode out the restart")
            #expect(service.output.contains("reconnecting to postgres") || service.output.contains("connection lost"))
            await db.close()
        }
    }

    @Test("a running relay keeps publishing after the broker lost everything: it replaces its wedged producer")
    func relaySurvivesBrokerWipe() async throws {
        try await TestbedHarness.with { harness in
            let relay = try harness.start(["--no-consumers"], label: "relay")
            let db = try await harness.connect()
            let before = try harness.ping(1, saga: "saga-before")
            try await harness.append([before], on: db)
            _ = try await KafkaOracle.waitForMessages(harness.pingTopic, count: 1)

            try await ChildProcess.run(URL(fileURLWithPath: TestEnvironment.devScript), ["broker-restart"], timeout: .seconds(60))
            try await harness.topics.recreate()
            let after = try harness.ping(2, saga: "saga-after")
            try await harness.append([after], on: db)
            // Within the producer's message timeout (10 s) plus a retry.
            let messages = try await KafkaOracle.waitForMessages(harness.pingTopic, count: 1, timeout: .seconds(40))
            #expect(messages.compactMap(\.eventID) == [after.envelope.eventID], "only the new event: the broker lost the old one")
            #expect(relay.isRunning)
            try await waitUntil("the outbox drained") { try await Outbox.status(on: db).pending == 0 }
            await db.close()
        }
    }
}
