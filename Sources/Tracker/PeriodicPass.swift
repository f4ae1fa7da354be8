import Logging
import PGClient
import ServiceLifecycle

/// Runs `pass` on a connection of its own until a shutdown, every `interval` or as soon as `pass` asks (it returns
/// the wait before the next pass). A failed pass is logged as `what` failing, its connection closed and made again
/// for the next one: the tracker's background work is never fatal. A shutdown cuts a wait short.
func runPeriodically(
    _ what: String, database: PGConfig, interval: Duration, logger: Logger, _ pass: (PGConnection) async throws -> Duration
) async {
    var db: PGConnection?
    while !Task.isCancelled, !Task.isShuttingDownGracefully {
        var wait = interval
        do {
            if db == nil { db = try await PGConnection.connect(database, logger: logger) }
            wait = try await pass(db!)
        } catch {
            logger.warning("\(what) failed, will retry: \(error)")
            if let connection = db { await connection.close() }
            db = nil
        }
        let pause = wait
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
    }
    if let db { await db.close() }
}
