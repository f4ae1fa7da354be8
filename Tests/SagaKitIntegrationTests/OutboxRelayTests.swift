import Foundation
import PGClient
import SagaKit
import Testbed
import Testing
import TestSupport

struct Rollback: Error {}

@Suite("Outbox relay", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(3)))
struct OutboxRelayTests {
    @Test("a rolled-back transaction's event never reaches Kafka; a committed one arrives")
    func rolledBackNeverPublished() async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            let relay = try harness.start(["--no-consumers"])
            let committed = try harness.ping(1, saga: "saga-committed")
            let rolledBack = try harness.ping(2, saga: "saga-rolled-back")
            let after = try harness.ping(3, saga: "saga-after")
            try await harness.append([committed], on: db)
            await #expect(throws: Rollback.self) {
                try await db.withTransaction { tx in
                    try Outbox.append([rolledBack], on: tx)
                    throw Rollback()
                }
            }
            try await harness.append([after], on: db)
            // The relay publishes in outbox order, so once the last committed event is on the topic, anything
            // before it that was going to be published has been.
            let messages = try await KafkaOracle.waitForMessages(harness.pingTopic, count: 2)
            let ids = messages.compactMap(\.eventID)
            #expect(Set(ids) == [committed.envelope.eventID, after.envelope.eventID])
            #expect(!ids.contains(rolledBack.envelope.eventID))
            // The relay marks a batch just after the broker acknowledged it.
            try await waitUntil("the outbox drained") { try await Outbox.status(on: db).pending == 0 }
            #expect(relay.isRunning)
            await db.close()
        }
    }

    @Test("1,000 events appended from 8 connections with random commit delays all arrive, none skipped, in per-key order")
    func concurrentAppendsAllArriveInKeyOrder() async throws {
        try await TestbedHarness.with { harness in
            try harness.start(["--no-consumers"])
            let writers = 8
            let perWriter = 125
            // Each writer owns five keys and appends to them in sequence; its transactions hold their outbox ids
            // for a random while before committing, so later ids often commit first.
            let appended = try await withThrowingTaskGroup(of: [OutboxMessage].self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        let db = try await harness.connect()
                        var mine: [OutboxMessage] = []
                        for j in 0..<perWriter {
                            let message = try harness.ping(j, saga: "key-\(writer)-\(j % 5)")
                            try await db.withTransaction { tx in
                                try Outbox.append([message], on: tx)
                                try tx.query("SELECT pg_sleep(\(Double.random(in: 0...0.02)))")
                            }
                            mine.append(message)
                        }
                        await db.close()
                        return mine
                    }
                }
                var all: [OutboxMessage] = []
                for try await batch in group { all += batch }
                return all
            }
            #expect(appended.count == writers * perWriter)
            let messages = try await KafkaOracle.waitForMessages(harness.pingTopic, count: appended.count, timeout: .seconds(60))
            let published = messages.compactMap(\.envelope)
            #expect(published.count == appended.count, "every event published once")
            #expect(Set(published.map(\.eventID)) == Set(appended.map(\.envelope.eventID)), "none skipped")
            // Per key, the topic's order (offsets within the key's partition) is the append order.
            var lastSequence: [String: Int] = [:]
            for envelope in published {
                let ping = try EventCoding.decodePayload(TestbedPing.self, from: envelope.payload)
                if let last = lastSequence[envelope.sagaID] {
                    #expect(ping.sequence > last, "key \(envelope.sagaID): \(ping.sequence) after \(last)")
                }
                lastSequence[envelope.sagaID] = ping.sequence
            }
            #expect(lastSequence.count == writers * 5)
            let db = try await harness.connect()
            try await waitUntil("the outbox drained") { try await Outbox.status(on: db).pending == 0 }
            await db.close()
        }
    }

    @Test("a lingering relay woken only after commits (coalesced, poll a minute away) publishes every event, the last ones too")
    func lingeringRelayWokenAfterCommit() async throws {
        try await TestbedHarness.with { harness in
            // With the poll a minute away, only the wake-ups can deliver within the test's deadline: a missing
            // trailing wake-up leaves the last rows unpublished.
            try harness.start(["--no-consumers", "--relay-poll-ms", "60000", "--relay-linger-ms", "20"])
            let db = try await harness.connect()
            let waker = RelayWaker()
            let appended = try await withThrowingTaskGroup(of: [OutboxMessage].self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        let writerDB = try await harness.connect()
                        var mine: [OutboxMessage] = []
                        for j in 0..<75 {
                            let message = try harness.ping(j, saga: "linger-\(writer)")
                            try await writerDB.withTransaction { tx in try Outbox.append([message], notify: false, on: tx) }
                            await waker.wake(using: writerDB)
                            mine.append(message)
                        }
                        await writerDB.close()
                        return mine
                    }
                }
                var all: [OutboxMessage] = []
                for try await batch in group { all += batch }
                return all
            }
            try await waitUntil("the outbox drained") { try await Outbox.status(on: db).pending == 0 }

            // A commit right after a wake-up is covered by the trailing one, which must come.
            let slow = RelayWaker(interval: .seconds(3))
            let first = try harness.ping(1000, saga: "trailing")
            try await harness.append([first], notify: false, on: db)
            await slow.wake(using: db)
            try await waitUntil("the first published") { try await Outbox.status(on: db).pending == 0 }
            let last = try harness.ping(1001, saga: "trailing")
            try await harness.append([last], notify: false, on: db)
            await slow.wake(using: db)
            let messages = try await KafkaOracle.waitForMessages(harness.pingTopic, count: appended.count + 2, timeout: .seconds(30))
            #expect(Set(messages.compactMap(\.eventID)) == Set((appended + [first, last]).map(\.envelope.eventID)), "every event published")
            await db.close()
        }
    }

    @Test("a standby relay ignores wake-ups: 50 notifications in a second cost it no more than its scheduled lease checks")
    func standbyIgnoresWakeUps() async throws {
        try await TestbedHarness.with { harness in
            let db = try await harness.connect()
            try await db.query("UPDATE sagakit_relay_lease SET holder = 'elsewhere', epoch = epoch + 1, expires_at = now() + interval '1 hour'")
            // Lease checks every 1.5 s (half the 3 s lease); the poll is a minute away.
            let standby = try harness.start(["--no-consumers", "--relay-poll-ms", "60000"], environment: ["SAGAKIT_LOG_LEVEL": "debug"], label: "standby")
            let line = "relay standing by"
            func checks() -> Int { standby.output.components(separatedBy: line).count - 1 }
            try await waitUntil("the standby's first lease check") { checks() >= 1 }
            try await waitUntil("the standby listening") {
                try await db.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")[0]
                    .decode("n", as: Int.self) >= 1
            }
            // A pending row the standby must leave alone: an active relay would publish it on the first wake-up.
            try await harness.append([try harness.ping(1, saga: "standby")], notify: false, on: db)
            let before = checks()
            let started = ContinuousClock.now
            for _ in 0..<50 {
                try await db.query("SELECT pg_notify(\(Outbox.notifyChannel), '')")
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = ContinuousClock.now - started
            let during = checks() - before
            // Scheduled checks alone: one per 1.5 s, plus one already due. Answering wake-ups made dozens.
            let allowed = Int(elapsed / .milliseconds(1500)) + 2
            #expect(during <= allowed, "\(during) lease checks in \(elapsed) while 50 notifications arrived; at most \(allowed) expected")
            #expect(try await Outbox.status(on: db).pending == 1, "the standby published nothing")
            await db.close()
        }
    }

    @Test("two relays on one database: one publishes at a time, and the other takes over when it is killed")
    func oneActiveRelayAndTakeover() async throws {
        try await TestbedHarness.with { harness in
            let debug = ["SAGAKIT_LOG_LEVEL": "debug"]
            // A lease longer than the harness's 3 s: on a loaded machine a produce can stall that long, and the
            // standby then rightly takes over, which is not what the first half of this test is about.
            let lease = ["--no-consumers", "--lease-seconds", "15"]
            let first = try harness.start(lease, environment: debug, label: "relay-a")
            let second = try harness.start(lease, environment: debug, label: "relay-b")
            let db = try await harness.connect()
            let leader = try await eventually("a relay to take the lease") { () -> ChildProcess? in
                let rows = try await db.query("SELECT holder FROM sagakit_relay_lease WHERE expires_at > now()")
                guard let holder: String = try rows.first?.decode("holder", as: String?.self) else { return nil }
                return [first, second].first { holder.contains("-\($0.pid)-") }
            }
            let standby = leader === first ? second : first

            var firstWave: [OutboxMessage] = []
            for i in 0..<10 {
                let batch = try (0..<10).map { try harness.ping(i * 10 + $0, saga: "saga-\($0)") }
                try await harness.append(batch, on: db)
                firstWave += batch
            }
            let afterFirst = try await KafkaOracle.waitForMessages(harness.pingTopic, count: firstWave.count)
            #expect(afterFirst.count == firstWave.count, "no event published twice while both relays run")
            #expect(Set(afterFirst.compactMap(\.eventID)) == Set(firstWave.map(\.envelope.eventID)))
            #expect(leader.output.contains("published"))
            #expect(!standby.output.contains("published"), "the standby published nothing")

            leader.kill9()
            _ = try await leader.waitForExit()
            let secondWave = try (0..<20).map { try harness.ping(100 + $0, saga: "saga-\($0 % 10)") }
            try await harness.append(secondWave, on: db)
            let all = try await KafkaOracle.waitForMessages(harness.pingTopic, count: firstWave.count + secondWave.count, timeout: .seconds(60))
            #expect(Set(all.compactMap(\.eventID)).isSuperset(of: secondWave.map(\.envelope.eventID)))
            #expect(standby.output.contains("published"), "the standby took over")
            let holder: String? = try await db.query("SELECT holder FROM sagakit_relay_lease")[0].decode("holder")
            #expect(holder?.contains("-\(standby.pid)-") == true)
            await db.close()
        }
    }
}
