import Foundation
import PGClient
import Testing
import TestSupport

/// What needs no server.
@Suite("PGClient offline")
struct PGConfigTests {
    @Test("redact hides passwords in URLs", arguments: [
        "postgresql://sagakit:s3cr3tpw@127.0.0.1:5432/app",
        "postgres://sagakit:s3cr3tpw@db.internal/app?sslmode=verify-full",
        "postgresql://sagakit:s3cr%40tpw@db/app",
        "postgresql://sagakit@db/app?password=s3cr3tpw&sslmode=require",
        "postgresql://sagakit:s3cr3tpw@db1:5432,db2:5433/app?target_session_attrs=read-write",
        "postgresql://sagakit@db/app?sslmode=verify-full&sslpassword=s3cr3tpw",
        "postgresql://sagakit@db1:5432,db2:5433/app?sslpassword=s3cr3tpw&sslmode=require",
    ])
    func redactURL(_ url: String) {
        let redacted = PGConfig.redact(url)
        #expect(!redacted.contains("s3cr3tpw"))
        #expect(!redacted.contains("s3cr%40tpw"))
        #expect(!redacted.contains("s3cr@tpw"))
        // Everything but the password stays, so the log line is still useful.
        #expect(redacted.contains("sagakit"))
        #expect(redacted.contains("app"))
        #expect(PGConfig(url).description == redacted)
        #expect(PGConfig(url).redacted == redacted)
    }

    @Test("redact hides passwords in key=value strings", arguments: [
        "host=db port=5432 user=sagakit password=s3cr3tpw dbname=app",
        "host=db password = s3cr3tpw dbname=app",
        "host=db password='s3cr3tpw with spaces' dbname=app",
        "host=db password='it\\'s s3cr3tpw' dbname=app",
        "host=db password=ab&s3cr3tpw dbname=app",
        "host=db password=ab\\ s3cr3tpw dbname=app",
        "host=db sslpassword=s3cr3tpw dbname=app",
    ])
    func redactKeyValue(_ text: String) {
        let redacted = PGConfig.redact(text)
        #expect(!redacted.contains("s3cr3tpw"))
        #expect(redacted.contains("host=db"))
        #expect(redacted.contains("dbname=app"))
        #expect(redacted.contains("password=***"))
    }

    @Test("a connection string libpq cannot parse is refused without libpq's words, which quote the password", arguments: [
        "postgresql://someone:hun%zzter2@127.0.0.1:1/nowhere",
        "host=127.0.0.1 port=1 password=hun ter2 dbname=nowhere",
    ])
    func malformedConnectionString(_ text: String) async throws {
        let error = await #expect(throws: PGError.self) {
            _ = try await PGConnection.connect(PGConfig(text, connectTimeoutSeconds: 2), logger: TestEnvironment.quietLogger)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("malformed") == true, "\(String(describing: error))")
        for part in ["hun", "zzter2", "ter2"] {
            #expect(error.map { !$0.message.contains(part) && !$0.description.contains(part) } == true, "\(String(describing: error))")
        }
    }

    @Test("a string without a password is left alone")
    func redactNothing() {
        #expect(PGConfig.redact("host=db dbname=app") == "host=db dbname=app")
        #expect(PGConfig.redact("postgresql://sagakit@db/app") == "postgresql://sagakit@db/app")
    }

    @Test("a bare database name is no malformed string: libpq takes it as the name, the rest from PG* variables")
    func bareDatabaseName() async throws {
        let error = await #expect(throws: PGError.self) {
            _ = try await PGConnection.connect(PGConfig("sagakit_no_such_database", connectTimeoutSeconds: 2), logger: TestEnvironment.quietLogger)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("malformed") == false, "\(String(describing: error))")
    }

    @Test("a failed connect throws connectionFailed without the password")
    func connectFailure() async throws {
        let error = await #expect(throws: PGError.self) {
            _ = try await PGConnection.connect(
                PGConfig("postgresql://someone:hunter2@127.0.0.1:1/nowhere", connectTimeoutSeconds: 2), logger: TestEnvironment.quietLogger)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionError == true)
        #expect(error.map { !$0.message.contains("hunter2") && !$0.description.contains("hunter2") } == true)
    }

    @Test("duplicate versions are refused; load reads NNNN_name.sql files and ignores others")
    func loadAndDuplicates() throws {
        #expect(throws: PGError.self) {
            try PGMigrator(component: "d", migrations: [PGMigration(version: 1, name: "a", sql: ""), PGMigration(version: 1, name: "b", sql: "")])
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgmigrator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 2;".write(to: directory.appendingPathComponent("0002_second_step.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        try "notes".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let loaded = try PGMigrator.load(component: "files", directory: directory)
        #expect(loaded.migrations.map(\.version) == [1, 2])
        #expect(loaded.migrations.map(\.name) == ["first", "second_step"])
        #expect(loaded.migrations.map(\.sql) == ["SELECT 1;", "SELECT 2;"])

        try "SELECT 3;".write(to: directory.appendingPathComponent("three.sql"), atomically: true, encoding: .utf8)
        #expect(throws: PGError.self) { try PGMigrator.load(component: "files", directory: directory) }
    }
}
