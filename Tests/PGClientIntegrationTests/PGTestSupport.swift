import Foundation
import PGClient
import Synchronization
import TestSupport

/// Runs `body` with a scratch database and one connection to it; closes the connection and drops the database
/// afterwards, also when `body` throws.
func withConnection<T>(
    _ label: String = "pgc", _ body: (ScratchDatabase, PGConnection) async throws -> T
) async throws -> T {
    try await withScratchDatabase(label) { database in
        let connection = try await database.connect()
        do {
            let result = try await body(database, connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }
}

/// The single value of a one-row, one-column result.
func scalar<T: PGDecodable>(_ connection: PGConnection, _ query: PGQuery, as type: T.Type = T.self) async throws -> T {
    let rows = try await connection.query(query)
    guard rows.count == 1, rows.columns.count == 1 else {
        throw PGError(code: .usage, message: "expected one row and one column, got \(rows.count) rows \(rows.columns)")
    }
    return try rows[0].decode(at: 0, as: type)
}

/// Terminates `connection`'s backend from `other` and waits until the server process is gone, so the next use of
/// `connection` meets a dead socket rather than racing the signal.
func terminateBackend(of connection: PGConnection, using other: PGConnection) async throws -> Int32 {
    let pid = try await scalar(connection, "SELECT pg_backend_pid()", as: Int32.self)
    let signalled = try await scalar(other, "SELECT pg_terminate_backend(\(pid))", as: Bool.self)
    guard signalled else { throw PGError(code: .usage, message: "pg_terminate_backend(\(pid)) returned false") }
    try await waitUntil("backend \(pid) to exit", timeout: .seconds(10), every: .milliseconds(20)) {
        try await other.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(pid)").isEmpty
    }
    return pid
}

/// A thread-safe counter for `@Sendable` transaction bodies.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)

    /// Adds one and returns the new value.
    @discardableResult
    func increment() -> Int { storage.add(1, ordering: .relaxed).newValue }

    var value: Int { storage.load(ordering: .relaxed) }
}

/// Microseconds since the epoch, the precision `timestamptz` keeps.
func microseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
}

struct Boom: Error, Equatable {}

/// Blocks each caller until `parties` callers have arrived; once open it stays open. For transaction bodies,
/// which run on their connection's own thread and may block it.
final class Barrier: Sendable {
    private let parties: Int
    private let arrived = Mutex(0)

    init(parties: Int) { self.parties = parties }

    /// Returns false if the others did not arrive within `timeout` seconds.
    func arriveAndWait(timeout: TimeInterval) -> Bool {
        arrived.withLock { $0 += 1 }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while arrived.withLock({ $0 }) < parties {
            if Date() > deadline { return false }
            usleep(1_000)
        }
        return true
    }
}
