import Logging
import PGClient

extension PGConnection {
    /// Connects, and after each failure waits the backoff's delay on `doorbell` (a stop rings it) and tries
    /// again, until it connects or `stopping` says to give up (then nil). `who` names the service in the log.
    static func connect(
        _ config: PGConfig, retrying backoff: Backoff, who: String, doorbell: Doorbell, logger: Logger,
        stopping: () -> Bool
    ) async -> PGConnection? {
        var attempt = 0
        while !stopping() {
            do {
                return try await PGConnection.connect(config, logger: logger)
            } catch {
                attempt += 1
                let delay = backoff.delay(attempt: attempt)
                logger.warning("\(who) cannot connect to postgres (attempt \(attempt)), retrying in \(delay): \(error)")
                await doorbell.wait(timeout: delay)
            }
        }
        return nil
    }
}
