import Foundation
import PGClient
import Testing
import TestSupport

/// Statements that share a round trip: queued writes, deferred BEGINs, after-commit hints and `queries`.
@Suite("PGClient pipelines", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct PGPipelineTests {
    @Test("queued writes and a deferred BEGIN share round trips: a read and two writes commit in two")
    func queuedStatementsShareRoundTrips() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE items (id int PRIMARY KEY, note text)")
            let observer = try await database.connect()
            @Sendable func write(_ id: Int) async throws -> Int {
                try await connection.withTransaction(deferBegin: true) { tx in
                    let count: Int = try tx.query("SELECT count(*) AS n FROM items")[0].decode("n")
                    tx.queue("INSERT INTO items VALUES (\(id), 'first')")
                    tx.queue("UPDATE items SET note = 'second' WHERE id = \(id)")
                    return count
                }
            }
            // The first run prepares the statements (a round trip each); the second shows the steady state.
            _ = try await write(1)
            let before = await connection.roundTrips
            #expect(try await write(2) == 1)
            // BEGIN with the read; the two writes with the COMMIT.
            #expect(await connection.roundTrips - before == 2)
            #expect(await !connection.inTransaction)
            #expect(try await scalar(observer, "SELECT count(*) FROM items WHERE note = 'second'", as: Int.self) == 2)

            // Without deferBegin the BEGIN takes a round trip of its own; the queued writes still go with the COMMIT.
            let eager = await connection.roundTrips
            try await connection.withTransaction { tx in
                tx.queue("INSERT INTO items VALUES (\(3), 'first')")
                tx.queue("UPDATE items SET note = 'second' WHERE id = \(3)")
            }
            #expect(await connection.roundTrips - eager == 2)
            #expect(try await scalar(observer, "SELECT note FROM items WHERE id = 3", as: String.self) == "second")
            await observer.close()
        }
    }

    @Test("a queued statement's error is thrown by the next round trip and rolls the transaction back")
    func queuedErrorsSurfaceAndRollBack() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE items (id int PRIMARY KEY)")
            try await connection.query("INSERT INTO items VALUES (1)")
            let observer = try await database.connect()

            // Thrown by the next query, not by queue(_:) itself.
            let reached = Counter()
            let atQuery = await #expect(throws: PGError.self) {
                try await connection.withTransaction(deferBegin: true) { tx in
                    tx.queue("INSERT INTO items VALUES (2)")
                    tx.queue("INSERT INTO items VALUES (1)")
                    reached.increment()
                    try tx.query("SELECT 1")
                    reached.increment()
                }
            }
            #expect(atQuery?.isUniqueViolation == true)
            #expect(reached.value == 1)

            // Thrown by the COMMIT when nothing came after it.
            let atCommit = await #expect(throws: PGError.self) {
                try await connection.withTransaction { tx in
                    try tx.query("INSERT INTO items VALUES (3)")
                    tx.queue("INSERT INTO items VALUES (1)")
                }
            }
            #expect(atCommit?.isUniqueViolation == true)

            // Nothing of either transaction landed; the session is clean and was not replaced.
            #expect(try await scalar(observer, "SELECT count(*) FROM items", as: Int.self) == 1)
            #expect(await !connection.inTransaction)
            #expect(try await scalar(connection, "SELECT count(*) FROM items", as: Int.self) == 1)
            #expect(await connection.connectCount == 1)
            await observer.close()
        }
    }

    @Test("afterCommit runs once the transaction committed, in the COMMIT's round trip; its failure is not thrown")
    func afterCommitHints() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE hints (n int)")
            let observer = try await database.connect()

            try await connection.withTransaction { tx in
                try tx.query("INSERT INTO items VALUES (\(1))")
                tx.afterCommit("INSERT INTO hints VALUES (\(1))")
            }
            let before = await connection.roundTrips
            try await connection.withTransaction(deferBegin: true) { tx in
                try tx.query("INSERT INTO items VALUES (\(2))")
                tx.afterCommit("INSERT INTO hints VALUES (\(2))")
            }
            #expect(await connection.roundTrips - before == 2)
            #expect(try await scalar(observer, "SELECT string_agg(n::text, ',' ORDER BY n) FROM hints", as: String.self) == "1,2")

            // A failing hint: the transaction still commits and the caller sees no error.
            try await connection.withTransaction { tx in
                try tx.query("INSERT INTO items VALUES (3)")
                tx.afterCommit("INSERT INTO no_such_table VALUES (1)")
            }
            #expect(try await scalar(observer, "SELECT count(*) FROM items WHERE id = 3", as: Int.self) == 1)

            // A failed transaction runs no hint.
            await #expect(throws: PGError.self) {
                try await connection.withTransaction { tx in
                    tx.afterCommit("INSERT INTO hints VALUES (4)")
                    try tx.query("INSERT INTO items VALUES (1)")
                }
            }
            #expect(try await scalar(observer, "SELECT count(*) FROM hints WHERE n = 4", as: Int.self) == 0)
            #expect(try await scalar(connection, "SELECT count(*) FROM items", as: Int.self) == 3)
            await observer.close()
        }
    }

    @Test("queries runs independent statements in one round trip; one failure fails them all")
    func independentQueries() async throws {
        try await withConnection { _, connection in
            try await connection.execute("CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2)")
            let statements: [PGQuery] = ["SELECT count(*) AS n FROM items", "SELECT max(id) AS m FROM items WHERE id < \(2)"]
            _ = try await connection.queries(statements)
            let before = await connection.roundTrips
            let rows = try await connection.queries(statements)
            #expect(await connection.roundTrips - before == 1)
            #expect(try rows[0][0].decode("n", as: Int.self) == 2)
            #expect(try rows[1][0].decode("m", as: Int.self) == 1)

            // Outside a transaction they are one implicit transaction: the insert before the failure is undone.
            let failure = await #expect(throws: PGError.self) {
                try await connection.queries(["INSERT INTO items VALUES (3)", "SELECT 1 / \(0)", "INSERT INTO items VALUES (4)"])
            }
            #expect(failure?.sqlState == "22012")
            #expect(try await scalar(connection, "SELECT count(*) FROM items", as: Int.self) == 2)

            // Inside one, with the queued writes before them.
            let seen = try await connection.withTransaction(deferBegin: true) { tx in
                tx.queue("INSERT INTO items VALUES (5)")
                return try tx.queries(["SELECT count(*) AS n FROM items", "SELECT max(id) AS m FROM items"])
                    .map { try $0[0].decode(at: 0, as: Int.self) }
            }
            #expect(seen == [3, 5])
            #expect(await connection.connectCount == 1)
        }
    }

    @Test("a connection lost before a deferred BEGIN fails the body's first statement, and a retrying policy recovers")
    func deferredBeginAfterConnectionLoss() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE inbox (id int PRIMARY KEY)")
            let admin = try await database.connect()
            _ = try await terminateBackend(of: connection, using: admin)
            let error = await #expect(throws: PGError.self) {
                try await connection.withTransaction(deferBegin: true) { tx in
                    try tx.query("INSERT INTO inbox VALUES (1)")
                }
            }
            #expect(error?.isConnectionError == true)

            _ = try await connection.query("SELECT 1")
            _ = try await terminateBackend(of: connection, using: admin)
            let runs = Counter()
            try await connection.withTransaction(retry: PGRetryPolicy(onConnectionLoss: true), deferBegin: true) { tx in
                runs.increment()
                tx.queue("INSERT INTO inbox VALUES (2)")
                try tx.query("SELECT 1")
            }
            #expect(runs.value == 2)
            #expect(try await scalar(admin, "SELECT string_agg(id::text, ',') FROM inbox", as: String.self) == "2")
            await admin.close()
        }
    }
}
