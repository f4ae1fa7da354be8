import Logging
import PGClient

/// The console's connection to the tracker's database: one, opened on first use and again after it breaks.
///
/// One is enough: an operator's pages make a few short queries each, and `PGConnection` runs them one at a time
/// on its own thread, never on the server's event loops. A query that fails because the connection broke drops
/// it, so the next request reconnects instead of failing forever.
actor ConsoleDatabase {
    private let config: PGConfig
    private let logger: Logger
    private var connection: PGConnection?

    init(config: PGConfig, logger: Logger) {
        var config = config
        config.connectTimeoutSeconds = 3
        self.config = config
        self.logger = logger
    }

    func with<T: Sendable>(_ body: @Sendable (PGConnection) async throws -> T) async throws -> T {
        let db = try await open()
        do {
            return try await body(db)
        } catch let error as PGError where error.isConnectionError {
            await drop(db)
            throw error
        }
    }

    private func open() async throws -> PGConnection {
        if let connection { return connection }
        let opened = try await PGConnection.connect(config, logger: logger)
        // Another request may have connected while this one awaited (actor reentrancy): keep one, close the other.
        if let connection {
            await opened.close()
            return connection
        }
        connection = opened
        return opened
    }

    private func drop(_ db: PGConnection) async {
        guard connection === db else { return }
        connection = nil
        await db.close()
    }
}
