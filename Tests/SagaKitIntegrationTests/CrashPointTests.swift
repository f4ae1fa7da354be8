import Foundation
import PGClient
import SagaKit
import Testbed
import Testing
import TestSupport

@Suite("Crash points", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(4)))
struct CrashPointTests {
    @Test("relay killed between the broker's ack and marking the rows: the event is published again and applied once")
    func relayCrashAfterAck() async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            let consumer = try harness.start(["--no-relay"], label: "consumer")
            let ping = try harness.ping(1, saga: "saga-relay-crash")
            let crashing = try harness.start(
                ["--no-consumers"], environment: [CrashPoint.environmentVariable: "relay.after_ack_before_mark:@1"], label: "relay-crashing")
            // Whichever relay holds the lease: the crashing one is started alone first.
            try await harness.append([ping], on: db)
            let exit = try await crashing.waitForExit(timeout: .seconds(30))
            #expect(exit.signaled && exit.status == SIGKILL, "killed by its crash point: \(exit)")
            #expect(crashing.output.contains("crash point relay.after_ack_before_mark"))
            // Published, but not marked.
            let pending: Int = try await db.query("SELECT count(*) AS n FROM sagakit_outbox WHERE published_at IS NULL")[0].decode("n")
            #expect(pending == 1)

            try harness.start(["--no-consumers"], label: "relay-restarted")
            let copies = try await KafkaOracle.waitForMessages(harness.pingTopic, count: 2, timeout: .seconds(30))
            #expect(copies.compactMap(\.eventID) == [ping.envelope.eventID, ping.envelope.eventID], "the same event twice on the wire")
            try await waitUntil("the ping applied") { try await harness.effectCounts(on: db)[ping.envelope.eventID] != nil }
            try await waitUntil("the duplicate acknowledged") { consumer.output.contains("outcome=duplicate") }
            #expect(try await harness.effectCounts(on: db) == [ping.envelope.eventID: 1], "applied once")
            try await waitUntil("the restarted relay marks the row") { try await Outbox.status(on: db).pending == 0 }
            await db.close()
        }
    }

    @Test("consumer killed after its database commit, before storing its offset: the redelivery is acknowledged, not applied")
    func consumerCrashAfterCommit() async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            let crashing = try harness.start(environment: [CrashPoint.environmentVariable: "consumer.after_db_commit_before_offset:@1"], label: "crashing")
            let pings = try (0..<5).map { try harness.ping($0, saga: "saga-consumer-crash") }
            try await harness.append(pings, on: db)
            let exit = try await crashing.waitForExit(timeout: .seconds(30))
            #expect(exit.signaled && exit.status == SIGKILL)
            let appliedBeforeCrash = try await harness.effectCounts(on: db)
            #expect(!appliedBeforeCrash.isEmpty, "the crash came after a commit")

            let restarted = try harness.start(label: "restarted")
            try await waitUntil("all pings applied") { try await harness.effectCounts(on: db).count == pings.count }
            try await waitUntil("the redelivered events acknowledged as duplicates") {
                restarted.occurrences(of: "outcome=duplicate") == appliedBeforeCrash.count
            }
            #expect(try await harness.effectCounts(on: db).values.allSatisfy { $0 == 1 }, "no second effect")
            await db.close()
        }
    }

    @Test("killed at every crash point and restarted: every event applied exactly once, every emitted event published",
          arguments: [CrashPoint.relayAfterFetchBeforePublish, .relayAfterAckBeforeMark, .relayAfterMarkBeforeCommit,
                      .consumerAfterPollBeforeTransaction, .consumerBeforeCommit, .consumerAfterCommitBeforeOffset,
                      .consumerAfterOffsetStore])
    func everyCrashPoint(_ point: CrashPoint) async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            // The third time the point is reached, so the crash lands mid-stream rather than on the first event.
            let crashing = try harness.start(environment: [CrashPoint.environmentVariable: "\(point.rawValue):@3"], label: "crashing")
            try await crashing.waitForOutput("partitions assigned")
            var pings: [OutboxMessage] = []
            for round in 0..<6 {
                let batch = try (0..<5).map { try harness.ping(round * 5 + $0, saga: "saga-\($0)") }
                try await harness.append(batch, on: db)
                pings += batch
                // One round at a time, so each is its own relay batch and its own consumer batch.
                let expected = pings.count
                try await waitUntil("round \(round) applied, or the crash") {
                    if !crashing.isRunning { return true }
                    return try await harness.effectCounts(on: db).count == expected
                }
            }
            let exit = try await crashing.waitForExit(timeout: .seconds(30))
            #expect(exit.signaled && exit.status == SIGKILL, "\(point.rawValue) fired: \(exit)")

            try harness.start(label: "restarted")
            try await waitUntil("all pings applied", timeout: .seconds(60)) {
                try await harness.effectCounts(on: db).count == pings.count
            }
            #expect(try await harness.effectCounts(on: db).values.allSatisfy { $0 == 1 }, "each applied once")
            try await waitUntil("the outbox drained") { try await Outbox.status(on: db).pending == 0 }
            let pongs = try await KafkaOracle.waitForMessages(harness.pongTopic, count: pings.count)
            let pongSequences = Set(try pongs.compactMap(\.envelope).map { try EventCoding.decodePayload(TestbedPong.self, from: $0.payload).sequence })
            #expect(pongSequences == Set(0..<pings.count), "a pong for every ping reached Kafka")
            await db.close()
        }
    }
}
