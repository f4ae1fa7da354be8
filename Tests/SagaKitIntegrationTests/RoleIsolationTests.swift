import Foundation
import PGClient
import Testing
import TestSupport

@Suite("Database roles", .enabled(if: TestEnvironment.hasStack))
struct RoleIsolationTests {
    static let services = ["inventory", "payment", "notification", "tracker"]

    static func url(_ service: String) -> String? {
        TestEnvironment.value("\(service.uppercased())_DATABASE_URL")
    }

    @Test("each service's role connects to its own database and to no other", arguments: services)
    func roleReachesOnlyItsOwnDatabase(_ service: String) async throws {
        let own = try #require(Self.url(service))
        let db = try await PGConnection.connect(PGConfig(own), logger: TestEnvironment.quietLogger)
        let row = try await db.query("SELECT current_user AS role, current_database() AS db, rolsuper FROM pg_roles WHERE rolname = current_user")[0]
        #expect(try row.decode("role", as: String.self) == service)
        #expect(try row.decode("db", as: String.self) == service)
        #expect(try row.decode("rolsuper", as: Bool.self) == false)
        await db.close()
        for other in Self.services where other != service {
            let foreign = ScratchDatabase.replacingDatabase(in: own, with: other)
            await #expect {
                _ = try await PGConnection.connect(PGConfig(foreign), logger: TestEnvironment.quietLogger)
            } throws: { error in
                guard let error = error as? PGError else { return false }
                return error.code == .connectionFailed && error.message.contains("permission denied for database \"\(other)\"")
            }
        }
    }
}
