import Foundation
import PGClient
import Testing
import TestSupport

@Suite("PGMigrator", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(2)))
struct PGMigratorTests {
    private static let migrations = [
        // Given out of order on purpose: version 2 needs version 1's table.
        PGMigration(version: 2, name: "add_index", sql: "CREATE INDEX widgets_name ON widgets (name); INSERT INTO applied_log VALUES (2);"),
        PGMigration(version: 1, name: "widgets", sql: """
            CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL);
            CREATE TABLE applied_log (version int NOT NULL);
            INSERT INTO applied_log VALUES (1);
            """),
        PGMigration(version: 10, name: "seed", sql: "INSERT INTO widgets (name) VALUES ('first'); INSERT INTO applied_log VALUES (10);"),
    ]

    private static func recorded(_ connection: PGConnection, component: String) async throws -> [Int] {
        try await connection.query("SELECT version FROM schema_migrations WHERE component = \(component) ORDER BY version")
            .map { try $0.decode("version", as: Int.self) }
    }

    @Test("applies in version order, once, records in schema_migrations; a second run applies nothing")
    func appliesOnce() async throws {
        try await withConnection("migrate") { _, connection in
            let migrator = try PGMigrator(component: "widgets", migrations: Self.migrations)
            #expect(try await migrator.pending(connection).map(\.version) == [1, 2, 10])

            let applied = try await migrator.migrate(connection)
            #expect(applied.map(\.version) == [1, 2, 10])
            #expect(try await Self.recorded(connection, component: "widgets") == [1, 2, 10])
            let names = try await connection.query("SELECT name, checksum FROM schema_migrations WHERE component = 'widgets' ORDER BY version")
            #expect(try names.map { try $0.decode("name", as: String.self) } == ["widgets", "add_index", "seed"])
            #expect(try names.map { try $0.decode("checksum", as: String.self) } == [1, 2, 10].map { v in Self.migrations.first { $0.version == v }!.checksum })
            #expect(try await connection.query("SELECT version FROM applied_log").map { try $0.decode("version", as: Int.self) } == [1, 2, 10])

            #expect(try await migrator.migrate(connection).isEmpty)
            #expect(try await migrator.pending(connection).isEmpty)
            #expect(try await scalar(connection, "SELECT count(*) FROM applied_log", as: Int.self) == 3)
            #expect(try await scalar(connection, "SELECT count(*) FROM widgets", as: Int.self) == 1)

            // Another component sharing the table is tracked separately.
            let other = try PGMigrator(component: "other", migrations: [PGMigration(version: 1, name: "x", sql: "CREATE TABLE other_x (id int)")])
            #expect(try await other.migrate(connection).map(\.version) == [1])
            #expect(try await Self.recorded(connection, component: "widgets") == [1, 2, 10])

            // A later version is applied on its own.
            let extended = try PGMigrator(component: "widgets", migrations: Self.migrations + [
                PGMigration(version: 11, name: "more", sql: "INSERT INTO applied_log VALUES (11);")
            ])
            #expect(try await extended.migrate(connection).map(\.version) == [11])
        }
    }

    @Test("two concurrent migrate calls on a fresh database apply each migration once")
    func concurrentMigrations() async throws {
        try await withConnection("migrate") { database, connection in
            let slow = Self.migrations.map { migration in
                var migration = migration
                migration.sql += "\nSELECT pg_sleep(0.1);"
                return migration
            }
            let migrator = try PGMigrator(component: "widgets", migrations: slow)
            let a = try await database.connect()
            let b = try await database.connect()
            async let fromA = migrator.migrate(a)
            async let fromB = migrator.migrate(b)
            let (appliedA, appliedB) = try await (fromA, fromB)
            let all = (appliedA + appliedB).map(\.version)
            #expect(all.sorted() == [1, 2, 10], "A applied \(appliedA.map(\.version)), B applied \(appliedB.map(\.version))")
            #expect(try await connection.query("SELECT version FROM applied_log ORDER BY version").map { try $0.decode("version", as: Int.self) } == [1, 2, 10])
            #expect(try await Self.recorded(connection, component: "widgets") == [1, 2, 10])
            await a.close()
            await b.close()
        }
    }

    @Test("two concurrent migrate calls apply each migration once when schema_migrations already exists")
    func concurrentMigrationsExistingTable() async throws {
        try await withConnection("migrate") { database, connection in
            // Another component's run created the bookkeeping table; what remains is the advisory lock's job.
            try await PGMigrator(component: "earlier", migrations: []).migrate(connection)
            let slow = Self.migrations.map { migration in
                var migration = migration
                migration.sql += "\nSELECT pg_sleep(0.1);"
                return migration
            }
            let migrator = try PGMigrator(component: "widgets", migrations: slow)
            let a = try await database.connect()
            let b = try await database.connect()
            async let fromA = migrator.migrate(a)
            async let fromB = migrator.migrate(b)
            let (appliedA, appliedB) = try await (fromA, fromB)
            let all = (appliedA + appliedB).map(\.version)
            #expect(all.sorted() == [1, 2, 10], "A applied \(appliedA.map(\.version)), B applied \(appliedB.map(\.version))")
            #expect(try await connection.query("SELECT version FROM applied_log ORDER BY version").map { try $0.decode("version", as: Int.self) } == [1, 2, 10])
            #expect(try await Self.recorded(connection, component: "widgets") == [1, 2, 10])
            await a.close()
            await b.close()
        }
    }

    @Test("a failing migration leaves no record and no partial table; the ones before it stay")
    func failingMigration() async throws {
        try await withConnection("migrate") { _, connection in
            let migrator = try PGMigrator(component: "broken", migrations: [
                PGMigration(version: 1, name: "good", sql: "CREATE TABLE good (id int);"),
                PGMigration(version: 2, name: "bad", sql: "CREATE TABLE partial (id int); INSERT INTO no_such_table VALUES (1);"),
                PGMigration(version: 3, name: "after", sql: "CREATE TABLE after_bad (id int);"),
            ])
            let error = await #expect(throws: PGError.self) { try await migrator.migrate(connection) }
            #expect(error?.sqlState == "42P01")
            #expect(try await Self.recorded(connection, component: "broken") == [1])
            #expect(try await scalar(connection, "SELECT to_regclass('good') IS NOT NULL", as: Bool.self))
            #expect(try await scalar(connection, "SELECT to_regclass('partial') IS NULL", as: Bool.self))
            #expect(try await scalar(connection, "SELECT to_regclass('after_bad') IS NULL", as: Bool.self))
            #expect(try await migrator.pending(connection).map(\.version) == [2, 3])
            #expect(await !connection.inTransaction)
        }
    }

    @Test("an applied migration whose SQL changed makes migrate throw")
    func changedMigration() async throws {
        try await withConnection("migrate") { _, connection in
            let original = try PGMigrator(component: "c", migrations: [PGMigration(version: 1, name: "t", sql: "CREATE TABLE t (id int);")])
            try await original.migrate(connection)
            let edited = try PGMigrator(component: "c", migrations: [
                PGMigration(version: 1, name: "t", sql: "CREATE TABLE t (id bigint);"),
                PGMigration(version: 2, name: "u", sql: "CREATE TABLE u (id int);"),
            ])
            let error = await #expect(throws: PGError.self) { try await edited.migrate(connection) }
            #expect(error?.code == .migration)
            #expect(try await Self.recorded(connection, component: "c") == [1])
            #expect(try await scalar(connection, "SELECT to_regclass('u') IS NULL", as: Bool.self))
        }
    }
}
