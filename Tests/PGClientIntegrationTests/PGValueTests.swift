import Foundation
import PGClient
import Testing
import TestSupport

/// Typed decoding, parameter encoding and their round trips through a real server.
@Suite("PGClient values", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct PGValueTests {
    @Test("NULL reads as nil into an optional and throws unexpectedNull into a non-optional; '' is not NULL")
    func nullsAndEmptyStrings() async throws {
        try await withConnection { _, connection in
            let rows = try await connection.query("SELECT NULL::int AS n, NULL::text AS t, ''::text AS e, 7 AS seven")
            let row = try #require(rows.first)
            #expect(try row.decode("n", as: Int?.self) == nil)
            #expect(try row.decode("t", as: String?.self) == nil)
            #expect(row.isNull("n"))
            #expect(row.isNull("t"))

            let intError = #expect(throws: PGError.self) { try row.decode("n", as: Int.self) }
            #expect(intError?.code == .unexpectedNull)
            // libpq itself returns "" for a NULL text column; the wrapper must not.
            let textError = #expect(throws: PGError.self) { try row.decode("t", as: String.self) }
            #expect(textError?.code == .unexpectedNull)

            #expect(!row.isNull("e"))
            #expect(try row.decode("e", as: String.self) == "")
            #expect(try row.decode("e", as: String?.self) == .some(""))
            #expect(try row.decode("seven", as: Int?.self) == 7)

            let missing = #expect(throws: PGError.self) { try row.decode("nope", as: Int.self) }
            #expect(missing?.code == .missingColumn)
            let outOfRange = #expect(throws: PGError.self) { try row.decode(at: 4, as: Int.self) }
            #expect(outOfRange?.code == .missingColumn)
            let notAnInt = #expect(throws: PGError.self) { try row.decode("e", as: Int.self) }
            #expect(notAnInt?.code == .decoding)

            // Binds: nil is SQL NULL, "" is an empty string.
            let binds = try #require(try await connection.query(
                "SELECT \(String?.none)::text IS NULL AS null_is_null, \("")::text IS NULL AS empty_is_null, length(\("")::text) AS empty_length"
            ).first)
            #expect(try binds.decode("null_is_null", as: Bool.self))
            #expect(try !binds.decode("empty_is_null", as: Bool.self))
            #expect(try binds.decode("empty_length", as: Int.self) == 0)
        }
    }

    @Test("integers, booleans, doubles, decimals and UUIDs round-trip through their column types")
    func scalarRoundTrips() async throws {
        try await withConnection { _, connection in
            for value in [0, 1, -1, 42, Int.max, Int.min] {
                #expect(try await scalar(connection, "SELECT \(value)::bigint", as: Int.self) == value)
            }
            for value in [Int64.max, Int64.min, 9_007_199_254_740_993] {
                #expect(try await scalar(connection, "SELECT \(value)::bigint", as: Int64.self) == value)
            }
            for value in [Int32.max, Int32.min, 0] {
                #expect(try await scalar(connection, "SELECT \(value)::integer", as: Int32.self) == value)
            }
            for value in [true, false] {
                #expect(try await scalar(connection, "SELECT \(value)::boolean", as: Bool.self) == value)
            }
            // The server's own boolean output ('t'/'f'), not just our encoding of it.
            #expect(try await scalar(connection, "SELECT 1 < 2", as: Bool.self) == true)
            #expect(try await scalar(connection, "SELECT 1 > 2", as: Bool.self) == false)

            for value in [0.1, -2.5, 1e300, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 1.0 / 3.0, Double.infinity, -Double.infinity] {
                #expect(try await scalar(connection, "SELECT \(value)::float8", as: Double.self) == value)
            }
            #expect(try await scalar(connection, "SELECT \(Double.nan)::float8", as: Double.self).isNaN)
            // The server parsed the exact value, not a rounded one.
            #expect(try await scalar(connection, "SELECT \(0.1)::float8 = 0.1::float8", as: Bool.self))

            for text in ["0", "12345678901234567890.123456789", "-0.000001", "99999999999999999999999999999999999999", "3.14"] {
                let value = try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
                #expect(try await scalar(connection, "SELECT \(value)::numeric", as: Decimal.self) == value)
                // The server read the decimal digits we meant.
                #expect(try await scalar(connection, "SELECT \(value)::numeric = \(unsafeRaw: text)::numeric", as: Bool.self))
            }

            let id = UUID()
            #expect(try await scalar(connection, "SELECT \(id)::uuid", as: UUID.self) == id)
            #expect(try await scalar(connection, "SELECT \(id)::uuid::text", as: String.self) == id.uuidString.lowercased())
            let generated = try await scalar(connection, "SELECT gen_random_uuid()", as: UUID.self)
            #expect(try await scalar(connection, "SELECT \(generated)::uuid::text", as: String.self) == generated.uuidString.lowercased())
        }
    }

    @Test("timestamps keep microseconds both ways and mean the same instant on the server")
    func timestamps() async throws {
        try await withConnection { _, connection in
            let cases: [(Date, String)] = [
                (Date(timeIntervalSince1970: 1_700_000_000.123456), "2023-11-14 22:13:20.123456"),
                (Date(timeIntervalSince1970: 1_700_000_000.000001), "2023-11-14 22:13:20.000001"),
                (Date(timeIntervalSince1970: 1_700_000_000.999999), "2023-11-14 22:13:20.999999"),
                (Date(timeIntervalSince1970: 0), "1970-01-01 00:00:00.000000"),
                (Date(timeIntervalSince1970: -0.5), "1969-12-31 23:59:59.500000"),
                (Date(timeIntervalSince1970: 951_868_800.25), "2000-03-01 00:00:00.250000"),
            ]
            for (date, expected) in cases {
                let back = try await scalar(connection, "SELECT \(date)::timestamptz", as: Date.self)
                #expect(microseconds(back) == microseconds(date), "round trip of \(expected)")
                let onServer = try await scalar(
                    connection, "SELECT to_char(\(date)::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", as: String.self)
                #expect(onServer == expected)
            }

            // Timestamps the server formats itself, including a non-UTC input offset and a leap day.
            let leap = try await scalar(connection, "SELECT '2024-02-29 23:59:59.999999+00'::timestamptz", as: Date.self)
            #expect(microseconds(leap) == 1_709_251_199_999_999)
            let offset = try await scalar(connection, "SELECT '2024-03-01 05:30:00+05:30'::timestamptz", as: Date.self)
            #expect(microseconds(offset) == 1_709_251_200_000_000)
            let now = try await scalar(connection, "SELECT now()", as: Date.self)
            #expect(abs(now.timeIntervalSinceNow) < 60)
            // A `timestamp` column compares with what we sent (the session is UTC).
            let date = Date(timeIntervalSince1970: 1_234_567_890.654321)
            #expect(try await scalar(connection, "SELECT \(date)::timestamptz = '2009-02-13 23:31:30.654321+00'::timestamptz", as: Bool.self))
        }
    }

    @Test("PGBytes round-trips every byte value through bytea")
    func bytea() async throws {
        try await withConnection { _, connection in
            let all = PGBytes(Array(0...255))
            let back = try await scalar(connection, "SELECT \(all)::bytea", as: PGBytes.self)
            #expect(back == all)
            #expect(try await scalar(connection, "SELECT length(\(all)::bytea)", as: Int.self) == 256)
            #expect(try await scalar(connection, "SELECT get_byte(\(all)::bytea, 200)", as: Int.self) == 200)
            let empty = PGBytes([])
            #expect(try await scalar(connection, "SELECT \(empty)::bytea", as: PGBytes.self) == empty)
            #expect(try await scalar(connection, "SELECT length(\(empty)::bytea)", as: Int.self) == 0)
            // Bytes the server produced itself.
            #expect(try await scalar(connection, "SELECT decode('00ff10', 'hex')", as: PGBytes.self) == PGBytes([0, 255, 16]))
        }
    }

    @Test("interpolated values are bind parameters, never SQL")
    func parametersAreBinds() async throws {
        try await withConnection { _, connection in
            try await connection.execute("CREATE TABLE victims (name text NOT NULL)")
            let evil = "'; DROP TABLE victims; --"
            let sneaky = "$1 \\' \" ; SELECT 1"
            try await connection.query("INSERT INTO victims (name) VALUES (\(evil)), (\(sneaky))")
            let names = try await connection.query("SELECT name FROM victims").map { try $0.decode("name", as: String.self) }
            #expect(names.count == 2)
            #expect(Set(names) == [sneaky, evil])
            #expect(try await scalar(connection, "SELECT \(evil)", as: String.self) == evil)
            #expect(try await scalar(connection, "SELECT count(*) FROM victims WHERE name = \(evil)", as: Int.self) == 1)
            // The table survived.
            #expect(try await scalar(connection, "SELECT to_regclass('victims') IS NOT NULL", as: Bool.self))

            let query: PGQuery = "SELECT \(evil), \(42)"
            #expect(query.sql == "SELECT $1, $2")
            #expect(query.binds == [evil, "42"])
            #expect(!query.description.contains("DROP"))
        }
    }

    @Test("a parameter holding a NUL is refused before it is sent, alone, in an array, queued or pipelined; nothing is cut short")
    func nulParametersRefused() async throws {
        try await withConnection { _, connection in
            try await connection.execute("CREATE TABLE ids (id text NOT NULL)")
            // libpq reads parameters as C strings: sent, this would have been 'ORD-1'.
            let cut = "ORD-1\u{0}x"
            let alone = await #expect(throws: PGError.self) { try await connection.query("INSERT INTO ids VALUES (\(cut))") }
            #expect(alone?.code == .usage)
            #expect(alone?.message.contains("NUL") == true)
            let inArray = await #expect(throws: PGError.self) {
                try await connection.query("INSERT INTO ids SELECT unnest(\(["ORD-2", cut])::text[])")
            }
            #expect(inArray?.code == .usage)
            let pipelined = await #expect(throws: PGError.self) {
                try await connection.queries(["INSERT INTO ids VALUES ('ORD-3')", "INSERT INTO ids VALUES (\(cut))"])
            }
            #expect(pipelined?.code == .usage)
            let queued = await #expect(throws: PGError.self) {
                try await connection.withTransaction { tx in
                    tx.queue("INSERT INTO ids VALUES ('ORD-4')")
                    tx.queue("INSERT INTO ids VALUES (\(cut))")
                }
            }
            #expect(queued?.code == .usage)
            // A body that swallows the error still cannot commit without the refused write.
            let swallowed = await #expect(throws: PGError.self) {
                try await connection.withTransaction(deferBegin: true) { tx in
                    tx.queue("INSERT INTO ids VALUES ('ORD-6')")
                    tx.queue("INSERT INTO ids VALUES (\(cut))")
                    _ = try? tx.query("INSERT INTO ids VALUES (\(cut))")
                    _ = try? tx.query("SELECT 1")
                    tx.afterCommit("SELECT \(cut)")
                }
            }
            #expect(swallowed?.code == .usage)
            // A hint with a NUL is dropped, not a failure of the transaction.
            try await connection.withTransaction { tx in
                try tx.query("INSERT INTO ids VALUES ('ORD-7')")
                tx.afterCommit("SELECT \(cut)")
            }
            #expect(try await scalar(connection, "SELECT count(*) FROM ids WHERE id <> 'ORD-7'", as: Int.self) == 0)
            try await connection.query("DELETE FROM ids")
            // The connection is fine afterwards.
            try await connection.query("INSERT INTO ids VALUES (\("ORD-5"))")
            #expect(try await scalar(connection, "SELECT count(*) FROM ids", as: Int.self) == 1)
        }
    }

    @Test("array parameters survive quotes, backslashes, commas, braces, unicode, empty strings and the word NULL")
    func arrayParameters() async throws {
        try await withConnection { _, connection in
            let strings = [
                "plain", "with \"quotes\"", "back\\slash", "trailing\\", "\\\"", "a,b", "{braces}", "ünïcødé ✓ 🎉",
                "", "NULL", " padded ", "new\nline", "'single'",
            ]
            let rows = try await connection.query(
                "SELECT v FROM unnest(\(strings)::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i")
            // Non-optional decoding: "NULL" and "" must arrive as strings, not as SQL NULL.
            #expect(try rows.map { try $0.decode("v", as: String.self) } == strings)
            #expect(try await scalar(connection, "SELECT cardinality(\(strings)::text[])", as: Int.self) == strings.count)

            let empty: [String] = []
            #expect(try await scalar(connection, "SELECT cardinality(\(empty)::text[])", as: Int.self) == 0)

            let numbers = [3, -1, 0, Int.max]
            let back = try await connection.query("SELECT v FROM unnest(\(numbers)::bigint[]) WITH ORDINALITY AS t(v, i) ORDER BY i")
            #expect(try back.map { try $0.decode("v", as: Int.self) } == numbers)

            let ids = [UUID(), UUID(), UUID()]
            #expect(try await scalar(connection, "SELECT \(ids[1])::uuid = ANY(\(ids)::uuid[])", as: Bool.self))
            #expect(try await scalar(connection, "SELECT \(UUID())::uuid = ANY(\(ids)::uuid[])", as: Bool.self) == false)
        }
    }
}
