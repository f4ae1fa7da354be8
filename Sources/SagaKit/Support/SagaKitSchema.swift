import Foundation
import PGClient

/// SagaKit's own tables (outbox, inbox, relay lease), applied to each service database before the service's own
/// migrations.
public enum SagaKitSchema {
    public static let component = "sagakit"

    public static func migrator() throws -> PGMigrator {
        try PGMigrator.load(component: component, bundle: .module)
    }

    /// The tables a consumer writes besides the caller's own: its inbox, and the outbox for what it emits.
    public static let consumerTables = ["sagakit_inbox", "sagakit_outbox"]

    /// Empty copies of the consumer tables in another schema (named by code, never by input), so a consumer whose
    /// connection's `search_path` names that schema writes there: how a rebuild runs beside the live tables.
    public static func createConsumerTables(inSchema schema: String, on tx: isolated PGConnection) throws {
        for table in consumerTables {
            try tx.query("CREATE TABLE \(unsafeRaw: schema).\(unsafeRaw: table) (LIKE public.\(unsafeRaw: table) INCLUDING ALL)")
        }
    }
}
