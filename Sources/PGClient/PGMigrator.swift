import Foundation

/// One versioned SQL script.
public struct PGMigration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// FNV-1a of the script, to notice a migration edited after it was applied.
    public var checksum: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

/// Applies a component's migrations in version order, each once, each in its own transaction, and records them
/// in `schema_migrations`. Several components (the saga library, a service) share one database and one table.
/// An advisory lock serializes concurrent runs, so two processes starting together apply each script once.
public struct PGMigrator: Sendable {
    public let component: String
    public let migrations: [PGMigration]

    public init(component: String, migrations: [PGMigration]) throws {
        self.component = component
        self.migrations = migrations.sorted { $0.version < $1.version }
        for (a, b) in zip(self.migrations, self.migrations.dropFirst()) where a.version == b.version {
            throw PGError(code: .migration, message: "\(component): two migrations with version \(a.version)")
        }
    }

    /// Reads `NNNN_description.sql` files from a folder; other files are ignored.
    public static func load(component: String, directory: URL) throws -> PGMigrator {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        var migrations: [PGMigration] = []
        for file in files where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw PGError(code: .migration, message: "\(file): expected NNNN_description.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(PGMigration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        return try PGMigrator(component: component, migrations: migrations)
    }

    /// Reads the `Migrations` folder a module ships as a resource (`resources: [.copy("Migrations")]` in its
    /// target): `PGMigrator.load(component: name, bundle: .module)`.
    public static func load(component: String, bundle: Bundle) throws -> PGMigrator {
        guard let directory = bundle.url(forResource: "Migrations", withExtension: nil) else {
            throw PGError(code: .migration, message: "\(component) migrations missing from the bundle")
        }
        return try load(component: component, directory: directory)
    }

    /// Applies what is pending and returns it. Throws if an applied script has since changed.
    @discardableResult
    public func migrate(_ connection: PGConnection) async throws -> [PGMigration] {
        try await Self.createTable(connection)
        var applied: [PGMigration] = []
        for migration in migrations {
            let done = try await connection.withTransaction { tx in
                try tx.query("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
                let rows = try tx.query(
                    "SELECT checksum FROM schema_migrations WHERE component = \(component) AND version = \(migration.version)")
                if let row = rows.first {
                    let recorded: String = try row.decode("checksum")
                    guard recorded == migration.checksum else {
                        throw PGError(code: .migration, message: "\(component) migration \(migration.version) (\(migration.name)) changed after it was applied")
                    }
                    return false
                }
                try tx.execute(migration.sql)
                try tx.query("""
                    INSERT INTO schema_migrations (component, version, name, checksum)
                    VALUES (\(component), \(migration.version), \(migration.name), \(migration.checksum))
                    """)
                return true
            }
            if done { applied.append(migration) }
        }
        return applied
    }

    /// Versions not yet applied.
    public func pending(_ connection: PGConnection) async throws -> [PGMigration] {
        try await Self.createTable(connection)
        let rows = try await connection.query("SELECT version FROM schema_migrations WHERE component = \(component)")
        let applied = Set(try rows.map { try $0.decode("version", as: Int.self) })
        return migrations.filter { !applied.contains($0.version) }
    }

    /// `CREATE TABLE IF NOT EXISTS` is not safe against itself: two sessions creating the same table at once can
    /// both pass the existence check and one then fails on the catalog's unique index (23505 on
    /// pg_type_typname_nsp_index). Creating it under the same advisory lock serializes that too.
    private static func createTable(_ connection: PGConnection) async throws {
        try await connection.withTransaction { tx in
            try tx.query("SELECT pg_advisory_xact_lock(\(lockKey))")
            try tx.execute(tableSQL)
        }
    }

    static let lockKey: Int64 = 0x5A6A_4B17
    static let tableSQL = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            component text NOT NULL,
            version integer NOT NULL,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )
        """
}
