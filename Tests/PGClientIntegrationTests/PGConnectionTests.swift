import Foundation
@testable import PGClient
import Testing
import TestSupport

/// Transactions, retries, server errors and connection loss.
@Suite("PGClient connection", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct PGConnectionTests {
    @Test("a connection string's own options add to the session's settings instead of replacing them; ours win a clash")
    func userOptionsKeepSessionSettings() async throws {
        try await withScratchDatabase("pgopts") { database in
            let separator = database.url.contains("?") ? "&" : "?"
            let encoded = try #require("-c statement_timeout=5s -c TimeZone=Europe/Paris"
                .addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            var config = PGConfig(database.url + separator + "options=" + encoded, applicationName: "options-test")
            config.sessionSettings = ["synchronous_commit": "off"]
            let connection = try await PGConnection.connect(config, logger: TestEnvironment.quietLogger)
            #expect(try await scalar(connection, "SHOW statement_timeout", as: String.self) == "5s")
            // Before, the string's options replaced ours whole: Europe/Paris, and synchronous_commit back on.
            #expect(try await scalar(connection, "SHOW TimeZone", as: String.self) == "UTC")
            #expect(try await scalar(connection, "SHOW synchronous_commit", as: String.self) == "off")
            #expect(try await scalar(connection, "SHOW DateStyle", as: String.self).hasPrefix("ISO"))
            await connection.close()
        }
    }

    @Test("a cached statement whose table changed shape is prepared again and answers with the new shape; one that fails so at every execution is thrown, not retried forever")
    func stalePreparedStatementIsPreparedAgainOnce() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE shapes (id int)")
            try await connection.execute("INSERT INTO shapes VALUES (1)")
            #expect(try await connection.query("SELECT * FROM shapes").count == 1)
            let other = try await database.connect()
            try await other.execute("ALTER TABLE shapes ADD COLUMN label text DEFAULT 'x'")
            let reshaped = try await connection.query("SELECT * FROM shapes")
            #expect(try reshaped[0].decode("label", as: String.self) == "x", "prepared again: the new column is there")

            // The same SQLSTATE (0A000) raised by the statement itself at every execution: one retry, then the error
            // (it used to prepare and retry until the stack overflowed).
            try await other.execute("""
                CREATE FUNCTION always_unsupported() RETURNS int LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'not here' USING ERRCODE = 'feature_not_supported'; END $$
                """)
            let error = await #expect(throws: PGError.self) { try await connection.query("SELECT always_unsupported() AS n") }
            #expect(error?.sqlState == "0A000", "\(String(describing: error))")
            #expect(try await scalar(connection, "SELECT 1 AS n", as: Int.self) == 1, "the connection is still usable")
            await other.close()
        }
    }

    @Test("a connection gets TCP keepalives and a user timeout unless its string sets them; the string's own win")
    func networkDefaults() async throws {
        try await withScratchDatabase("pgnet") { database in
            let separator = database.url.contains("?") ? "&" : "?"
            for (suffix, idle, userTimeout) in [("", "30", "30000"), ("keepalives_idle=45&tcp_user_timeout=9000", "45", "9000")] {
                let url = suffix.isEmpty ? database.url : database.url + separator + suffix
                let connection = try await PGConnection.connect(PGConfig(url, applicationName: "net-test"), logger: TestEnvironment.quietLogger)
                let settings = try await connection.settingsInUse()
                #expect(settings["keepalives"] == "1" && settings["keepalives_idle"] == idle && settings["keepalives_interval"] == "10"
                        && settings["keepalives_count"] == "3" && settings["tcp_user_timeout"] == userTimeout, "\(suffix): \(settings.filter { $0.key.hasPrefix("keepalives") || $0.key == "tcp_user_timeout" })")
                await connection.close()
            }
        }
    }

    @Test("withTransaction commits on success and rolls back when the body throws")
    func commitAndRollback() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE items (id int PRIMARY KEY)")
            let observer = try await database.connect()

            let value = try await connection.withTransaction { tx in
                try tx.query("INSERT INTO items VALUES (1)")
                return "done"
            }
            #expect(value == "done")
            #expect(await !connection.inTransaction)
            // Visible from another session: committed, not merely written.
            #expect(try await scalar(observer, "SELECT count(*) FROM items WHERE id = 1", as: Int.self) == 1)

            await #expect(throws: Boom.self) {
                try await connection.withTransaction { tx in
                    try tx.query("INSERT INTO items VALUES (2)")
                    let open = tx.inTransaction
                    #expect(open)
                    throw Boom()
                }
            }
            #expect(await !connection.inTransaction)
            #expect(try await scalar(observer, "SELECT count(*) FROM items WHERE id = 2", as: Int.self) == 0)
            #expect(try await scalar(connection, "SELECT count(*) FROM items WHERE id = 2", as: Int.self) == 0)

            // A server error inside the body rolls back what came before it and is not retried.
            let runs = Counter()
            let error = await #expect(throws: PGError.self) {
                try await connection.withTransaction { tx in
                    runs.increment()
                    try tx.query("INSERT INTO items VALUES (3)")
                    try tx.query("INSERT INTO items VALUES (1)")
                }
            }
            #expect(error?.isUniqueViolation == true)
            #expect(runs.value == 1)
            #expect(try await scalar(observer, "SELECT count(*) FROM items", as: Int.self) == 1)
            // The connection is still usable and was not replaced.
            #expect(try await scalar(connection, "SELECT 1", as: Int.self) == 1)
            #expect(await connection.connectCount == 1)
            await observer.close()
        }
    }

    @Test("withTransaction retries a real serialization failure until every increment lands")
    func serializationFailureIsRetried() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL); INSERT INTO counter VALUES (1, 0)")
            let a = try await database.connect()
            let b = try await database.connect()
            let runs = Counter()
            let perConnection = 2

            // Without retries the conflict surfaces: of two read-modify-writes that both read before either writes
            // (the barrier makes sure), one fails with 40001.
            let overlap = Barrier(parties: 2)
            async let first: PGError? = Self.increment(a, runs: Counter(), retry: .none, barrier: overlap)
            async let second: PGError? = Self.increment(b, runs: Counter(), retry: .none, barrier: overlap)
            let failures = try await [first, second].compactMap { $0 }
            #expect(failures.count == 1)
            #expect(failures.first?.isSerializationFailure == true)
            #expect(failures.first?.sqlState == "40001")
            try await connection.query("UPDATE counter SET n = 0")

            // With the default policy, every transaction eventually commits. The first attempts on the two
            // connections overlap for certain (barrier); later ones overlap through pg_sleep.
            let firstAttempts = Barrier(parties: 2)
            async let left: Void = Self.incrementRepeatedly(a, times: perConnection, runs: runs, barrier: firstAttempts)
            async let right: Void = Self.incrementRepeatedly(b, times: perConnection, runs: runs, barrier: firstAttempts)
            _ = try await (left, right)
            #expect(try await scalar(connection, "SELECT n FROM counter WHERE id = 1", as: Int.self) == 2 * perConnection)
            #expect(runs.value > 2 * perConnection, "the body ran \(runs.value) times for \(2 * perConnection) transactions")
            await a.close()
            await b.close()
        }
    }

    /// One SERIALIZABLE read-modify-write with a sleep between read and write, so concurrent ones overlap.
    /// Returns the error instead of throwing it. The body blocks only the connection's own thread at the barrier.
    private static func increment(_ connection: PGConnection, runs: Counter, retry: PGRetryPolicy, barrier: Barrier) async throws -> PGError? {
        do {
            try await connection.withTransaction(isolation: .serializable, retry: retry) { tx in
                runs.increment()
                let n = try tx.query("SELECT n FROM counter WHERE id = 1")[0].decode("n", as: Int.self)
                guard barrier.arriveAndWait(timeout: 10) else { throw PGError(code: .usage, message: "the other transaction never read") }
                try tx.query("SELECT pg_sleep(0.1)")
                try tx.query("UPDATE counter SET n = \(n + 1) WHERE id = 1")
            }
            return nil
        } catch let error as PGError {
            return error
        }
    }

    private static func incrementRepeatedly(_ connection: PGConnection, times: Int, runs: Counter, barrier: Barrier) async throws {
        for _ in 0..<times {
            if let error = try await increment(connection, runs: runs, retry: .default, barrier: barrier) { throw error }
        }
    }

    @Test("server errors carry their SQLSTATE, and description leaves the DETAIL (row data) out")
    func serverErrors() async throws {
        try await withConnection { _, connection in
            try await connection.execute("CREATE TABLE users (email text PRIMARY KEY)")
            try await connection.query("INSERT INTO users VALUES (\("secret@example.com"))")
            let duplicate = await #expect(throws: PGError.self) {
                try await connection.query("INSERT INTO users VALUES (\("secret@example.com"))")
            }
            #expect(duplicate?.code == .server)
            #expect(duplicate?.sqlState == "23505")
            #expect(duplicate?.isUniqueViolation == true)
            #expect(duplicate?.isSerializationFailure == false)
            #expect(duplicate?.isConnectionError == false)
            #expect(duplicate.map { !$0.description.contains("secret@example.com") } == true)
            #expect(duplicate?.debugDescription.contains("secret@example.com") == true)

            let syntax = await #expect(throws: PGError.self) { try await connection.query("SELEKT 1") }
            #expect(syntax?.sqlState == "42601")
            #expect(syntax?.isUniqueViolation == false)
            let division = await #expect(throws: PGError.self) { try await connection.query("SELECT 1 / \(0)") }
            #expect(division?.sqlState == "22012")
            let script = await #expect(throws: PGError.self) { try await connection.execute("SELECT 1; SELECT * FROM no_such_table") }
            #expect(script?.sqlState == "42P01")

            // Errors do not cost the connection.
            #expect(try await scalar(connection, "SELECT count(*) FROM users", as: Int.self) == 1)
            #expect(await connection.connectCount == 1)
        }
    }

    @Test("a terminated backend fails the next query with a connection error; the one after reconnects")
    func reconnectsAfterConnectionLoss() async throws {
        try await withConnection { database, connection in
            let admin = try await database.connect()
            #expect(await connection.connectCount == 1)
            let oldPID = try await terminateBackend(of: connection, using: admin)

            let error = await #expect(throws: PGError.self) { try await connection.query("SELECT 1") }
            #expect(error?.isConnectionError == true)
            #expect(await !connection.isConnected)

            #expect(try await scalar(connection, "SELECT 1", as: Int.self) == 1)
            #expect(await connection.connectCount == 2)
            #expect(await connection.isConnected)
            let newPID = try await scalar(connection, "SELECT pg_backend_pid()", as: Int32.self)
            #expect(newPID != oldPID)
            await admin.close()
        }
    }

    @Test("withTransaction(retry: onConnectionLoss) recovers from a lost connection; the default policy does not retry")
    func transactionRecoversFromConnectionLoss() async throws {
        try await withConnection { database, connection in
            try await connection.execute("CREATE TABLE inbox (id int PRIMARY KEY)")
            let admin = try await database.connect()

            // Default policy: the loss is the caller's to handle.
            _ = try await terminateBackend(of: connection, using: admin)
            let runsWithoutRetry = Counter()
            let error = await #expect(throws: PGError.self) {
                try await connection.withTransaction { tx in
                    runsWithoutRetry.increment()
                    try tx.query("INSERT INTO inbox VALUES (1)")
                }
            }
            #expect(error?.isConnectionError == true)
            #expect(runsWithoutRetry.value == 0)
            #expect(try await scalar(admin, "SELECT count(*) FROM inbox", as: Int.self) == 0)
            #expect(await connection.connectCount == 1)

            // With onConnectionLoss: the connection was lost before BEGIN; the caller never sees it.
            let before = await connection.connectCount
            #expect(try await scalar(connection, "SELECT 1", as: Int.self) == 1)
            _ = try await terminateBackend(of: connection, using: admin)
            let value = try await connection.withTransaction(retry: PGRetryPolicy(onConnectionLoss: true)) { tx in
                try tx.query("INSERT INTO inbox VALUES (2)")
                return 2
            }
            #expect(value == 2)
            #expect(await connection.connectCount == before + 2)

            // And lost in the middle of the body: the first attempt's insert is rolled back with the dead session,
            // the body runs again on a new connection, and the row exists once.
            let runs = Counter()
            let inBody = try await connection.withTransaction(retry: PGRetryPolicy(onConnectionLoss: true)) { tx in
                let attempt = runs.increment()
                try tx.query("INSERT INTO inbox VALUES (3)")
                if attempt == 1 { try tx.query("SELECT pg_terminate_backend(pg_backend_pid())") }
                return attempt
            }
            #expect(inBody == 2)
            #expect(runs.value == 2)
            #expect(try await connection.query("SELECT id FROM inbox ORDER BY id").map { try $0.decode("id", as: Int.self) } == [2, 3])
            #expect(await connection.connectCount == before + 3)
            await admin.close()
        }
    }
}
