import PGClient
import Synchronization

/// Coalesces one process's relay wake-ups for one database: at most one NOTIFY per `interval`, and always one
/// after the last commit (a trailing wake-up), so no committed row is left waiting for the relay's poll.
///
/// For writers that commit one small transaction per request at a high rate (an order intake): the relay reads
/// everything committed when it wakes, so a NOTIFY per commit mostly wakes it for nothing.
public final class RelayWaker: Sendable {
    public let interval: Duration
    private struct State {
        var lastSent: ContinuousClock.Instant?
        var trailingScheduled = false
    }
    private let state = Mutex(State())

    public init(interval: Duration = .milliseconds(2)) {
        self.interval = interval
    }

    private enum Action {
        case sendNow
        case sendAt(ContinuousClock.Instant)
        /// A trailing wake-up is scheduled and will go after this commit.
        case covered
    }

    /// Call after the transaction that appended to the outbox has committed. `db` is any connection to that
    /// database; a trailing wake-up uses it too, between its other statements.
    public func wake(using db: PGConnection) async {
        let now = ContinuousClock.now
        let action = state.withLock { state -> Action in
            if let last = state.lastSent, now - last < interval {
                if state.trailingScheduled { return .covered }
                state.trailingScheduled = true
                return .sendAt(last + interval)
            }
            state.lastSent = now
            return .sendNow
        }
        switch action {
        case .sendNow:
            await Outbox.wakeRelay(on: db)
        case .sendAt(let due):
            Task {
                try? await Task.sleep(until: due, clock: .continuous)
                state.withLock {
                    $0.trailingScheduled = false
                    $0.lastSent = .now
                }
                await Outbox.wakeRelay(on: db)
            }
        case .covered:
            break
        }
    }
}
