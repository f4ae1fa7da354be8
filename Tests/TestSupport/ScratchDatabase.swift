import Foundation
import Logging
import PGClient

/// A database of its own for one test, created through the admin role and dropped afterwards.
public struct ScratchDatabase: Sendable {
    public let name: String
    public let url: String

    public var config: PGConfig { PGConfig(url, applicationName: "test") }

    public static func create(_ label: String = "t") async throws -> ScratchDatabase {
        let name = "\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = try await PGConnection.connect(PGConfig(TestEnvironment.adminDatabaseURL), logger: TestEnvironment.quietLogger)
        try await admin.execute("CREATE DATABASE \"\(name)\"")
        await admin.close()
        return ScratchDatabase(name: name, url: replacingDatabase(in: TestEnvironment.adminDatabaseURL, with: name))
    }

    public func connect() async throws -> PGConnection {
        try await PGConnection.connect(config, logger: TestEnvironment.quietLogger)
    }

    /// Connects and applies `migrators` in order, as a service's `migrate` does with its `allMigrators()`.
    public func connect(migrating migrators: [PGMigrator]) async throws -> PGConnection {
        let db = try await connect()
        for migrator in migrators { _ = try await migrator.migrate(db) }
        return db
    }

    public func drop() async {
        guard let admin = try? await PGConnection.connect(PGConfig(TestEnvironment.adminDatabaseURL), logger: TestEnvironment.quietLogger) else { return }
        // FORCE ends sessions a test left behind, but refuses (42501) while an autovacuum worker, which only a
        // superuser may signal, is in the database; a plain DROP stops autovacuum itself.
        do {
            try await admin.execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
        } catch {
            try? await admin.execute("DROP DATABASE IF EXISTS \"\(name)\"")
        }
        await admin.close()
    }

    /// `postgresql://u:p@h:port/old` → `.../new`.
    public static func replacingDatabase(in url: String, with database: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/" + database
        return components.string ?? url
    }
}

/// Runs `body` with a scratch database and drops it afterwards, also when `body` throws.
public func withScratchDatabase<T>(_ label: String = "t", _ body: (ScratchDatabase) async throws -> T) async throws -> T {
    let database = try await ScratchDatabase.create(label)
    do {
        let result = try await body(database)
        await database.drop()
        return result
    } catch {
        await database.drop()
        throw error
    }
}
