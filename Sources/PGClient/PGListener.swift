import CLibPQ
import Foundation
import Logging
import Synchronization

/// LISTENs on channels over a connection of its own and yields what arrives.
///
/// Notifications are hints, not a log: Postgres drops them while nobody listens. So after every (re)connection
/// the listener yields `.listening`, telling the reader that it may have missed some and should look for
/// itself. A thread owned by the listener waits on the socket; the connection is re-established with backoff
/// when it breaks.
public final class PGListener: Sendable {
    public enum Event: Sendable, Equatable {
        /// Listening (again); anything sent while disconnected was lost.
        case listening
        case notification(channel: String, payload: String)
    }

    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let stopped = Atomic<Bool>(false)
    private let config: PGConfig
    private let channels: [String]
    private let logger: Logger

    /// Starts listening at once. Channel names are used as identifiers: letters, digits and underscores.
    public init(config: PGConfig, channels: [String], logger: Logger) {
        self.config = config
        self.channels = channels
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
        let thread = Thread { [self] in self.run() }
        thread.name = "pg-listen"
        thread.start()
    }

    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    deinit {
        continuation.finish()
    }

    private func run() {
        let backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        var failures = 0
        while !stopped.load(ordering: .relaxed) {
            let conn: OpaquePointer
            do {
                conn = try libpqConnect(config)
                for channel in channels {
                    let result = PQexec(conn, "LISTEN \"\(channel)\"")
                    defer { PQclear(result) }
                    guard PQresultStatus(result) == PGRES_COMMAND_OK else {
                        let message = libpqErrorMessage(conn)
                        // Each retry opens a new connection: this one must not stay behind (a standby refusing LISTEN
                        // would otherwise collect one every backoff until max_connections).
                        PQfinish(conn)
                        throw PGError(code: .server, message: "LISTEN \(channel): \(message)")
                    }
                }
            } catch {
                logger.warning("listener cannot connect: \(error)")
                failures += 1
                Thread.sleep(forTimeInterval: backoff.delay(attempt: failures) / .seconds(1))
                continue
            }
            failures = 0
            continuation.yield(.listening)
            listen(conn)
            PQfinish(conn)
        }
        continuation.finish()
    }

    /// Returns when the connection breaks or the listener stops.
    private func listen(_ conn: OpaquePointer) {
        while !stopped.load(ordering: .relaxed) {
            let ready = sagakit_pq_wait_readable(conn, 200)
            if ready < 0 && errno != EINTR { return }
            if PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK {
                logger.info("listener connection lost: \(libpqErrorMessage(conn))")
                return
            }
            while let notification = PQnotifies(conn) {
                let channel = String(cString: notification.pointee.relname)
                let payload = String(cString: notification.pointee.extra)
                PQfreemem(notification)
                continuation.yield(.notification(channel: channel, payload: payload))
            }
        }
    }
}
