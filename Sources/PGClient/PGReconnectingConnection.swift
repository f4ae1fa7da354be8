import Logging

/// One connection kept between uses: opened on first use, and again after it breaks.
///
/// For a process that makes a few short queries now and then (the console's pages, a readiness probe): one
/// connection is enough, since `PGConnection` runs its queries one at a time on its own thread, and keeping it saves
/// a connection per use. A query that fails because the connection broke drops it, so the next use reconnects
/// instead of failing forever.
public actor PGReconnectingConnection {
    private let config: PGConfig
    private let logger: Logger
    private var connection: PGConnection?

    public init(config: PGConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// Runs `body` on the connection, opening it first when there is none.
    public func with<T: Sendable>(_ body: @Sendable (PGConnection) async throws -> T) async throws -> T {
        let db = try await open()
        do {
            return try await body(db)
        } catch let error as PGError where error.isConnectionError {
            await drop(db)
            throw error
        }
    }

    /// Closes the connection, if one is open; the next use opens another.
    public func reset() async {
        if let connection { await drop(connection) }
    }

    private func open() async throws -> PGConnection {
        if let connection { return connection }
        let opened = try await PGConnection.connect(config, logger: logger)
        // Another caller may have connected while this one awaited (actor reentrancy): keep one, close the other.
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
