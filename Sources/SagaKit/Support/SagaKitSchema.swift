import Foundation
import PGClient

/// SagaKit's own tables (outbox, inbox, relay lease), applied to each service database before the service's own
/// migrations.
public enum SagaKitSchema {
    public static let component = "sagakit"

    public static func migrator() throws -> PGMigrator {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw PGError(code: .migration, message: "SagaKit's migrations are missing from the bundle")
        }
        return try PGMigrator.load(component: component, directory: directory)
    }
}
