import Foundation
import InMemoryLogging
import Logging
import PGClient
import Synchronization
import Testing
import TestSupport

/// Collects a listener's events on a task of its own, so tests can wait for conditions with a deadline.
private final class EventLog: Sendable {
    private let events = Mutex<[PGListener.Event]>([])
    private let finished = Atomic<Bool>(false)

    func start(_ listener: PGListener) -> Task<Void, Never> {
        Task {
            for await event in listener.events { self.events.withLock { $0.append(event) } }
            self.finished.store(true, ordering: .relaxed)
        }
    }

    var all: [PGListener.Event] { events.withLock { $0 } }
    var isFinished: Bool { finished.load(ordering: .relaxed) }
    var listeningCount: Int { all.filter { $0 == .listening }.count }

    func payloads(on channel: String) -> [String] {
        all.compactMap {
            if case .notification(channel, let payload) = $0 { return payload }
            return nil
        }
    }
}

@Suite("PGListener", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct PGListenerTests {
    @Test("a LISTEN the server refuses closes its connection before the retry: retries never pile connections up")
    func failedListenClosesItsConnection() async throws {
        try await withConnection("listenfail") { database, connection in
            let applicationName = "listen-fail-\(UUID().uuidString.prefix(8))"
            let handler = InMemoryLogHandler()
            // `LISTEN ""` is a syntax error: every attempt connects, then fails.
            let listener = PGListener(
                config: PGConfig(database.url, applicationName: applicationName), channels: [""], logger: Logger(label: "listen-fail") { _ in handler })
            defer { listener.stop() }
            try await waitUntil("four refused LISTENs", timeout: .seconds(20), every: .milliseconds(50)) {
                handler.entries.filter { "\($0.message)".contains("LISTEN") }.count >= 4
            }
            // Before the fix, each refused attempt left its connection open: four or more by now.
            let open = try await scalar(connection, "SELECT count(*) FROM pg_stat_activity WHERE application_name = \(applicationName)", as: Int.self)
            #expect(open <= 1, "\(open) connections of the failing listener are open")
        }
    }

    @Test("yields .listening, then pg_notify payloads; after its backend is terminated it listens again and keeps receiving")
    func listensAndRecovers() async throws {
        try await withConnection("listen") { database, connection in
            let applicationName = "listener-\(UUID().uuidString.prefix(8))"
            let listener = PGListener(
                config: PGConfig(database.url, applicationName: applicationName), channels: ["jobs", "other_channel"],
                logger: TestEnvironment.quietLogger)
            let log = EventLog()
            let reader = log.start(listener)

            try await waitUntil("the listener to report .listening", timeout: .seconds(10), every: .milliseconds(20)) { log.listeningCount == 1 }
            try await connection.query("SELECT pg_notify('jobs', \("first"))")
            try await connection.query("SELECT pg_notify('jobs', \("with 'quotes' and ünïcødé"))")
            try await connection.query("SELECT pg_notify('other_channel', \(""))")
            try await connection.query("SELECT pg_notify('not_listened', \("ignored"))")
            try await waitUntil("two notifications on jobs", timeout: .seconds(10), every: .milliseconds(20)) {
                log.payloads(on: "jobs").count == 2 && log.payloads(on: "other_channel").count == 1
            }
            #expect(log.all.first == .listening)
            #expect(log.payloads(on: "jobs") == ["first", "with 'quotes' and ünïcødé"])
            #expect(log.payloads(on: "other_channel") == [""])

            // A notification sent inside a transaction arrives only once it commits.
            _ = try await connection.withTransaction { tx in
                try tx.query("SELECT pg_notify('jobs', \("in transaction"))")
            }
            try await waitUntil("the transaction's notification", timeout: .seconds(10), every: .milliseconds(20)) {
                log.payloads(on: "jobs").contains("in transaction")
            }

            // Kill the listener's session from outside.
            let pid = try await scalar(connection, "SELECT pid FROM pg_stat_activity WHERE application_name = \(applicationName)", as: Int32.self)
            #expect(try await scalar(connection, "SELECT pg_terminate_backend(\(pid))", as: Bool.self))
            try await waitUntil("the listener to listen again", timeout: .seconds(15), every: .milliseconds(20)) { log.listeningCount == 2 }
            let newPID = try await scalar(connection, "SELECT pid FROM pg_stat_activity WHERE application_name = \(applicationName)", as: Int32.self)
            #expect(newPID != pid)

            try await connection.query("SELECT pg_notify('jobs', \("after reconnect"))")
            try await waitUntil("the notification sent after the reconnect", timeout: .seconds(10), every: .milliseconds(20)) {
                log.payloads(on: "jobs").contains("after reconnect")
            }
            #expect(log.payloads(on: "jobs").suffix(1) == ["after reconnect"])
            #expect(!log.all.contains(.notification(channel: "not_listened", payload: "ignored")))

            listener.stop()
            try await waitUntil("the listener's session to end", timeout: .seconds(10), every: .milliseconds(50)) {
                try await connection.query("SELECT 1 FROM pg_stat_activity WHERE application_name = \(applicationName)").isEmpty
            }
            reader.cancel()
            _ = await reader.value
        }
    }
}
