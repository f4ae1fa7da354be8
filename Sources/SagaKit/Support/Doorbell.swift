import Synchronization

/// Wakes one waiting task early: a loop waits up to its poll interval and anyone may ring to cut the wait short.
/// A ring with nobody waiting is remembered, so the next wait returns at once.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
        /// Which wait `waiter` belongs to: a timeout or cancellation may only end its own wait, never a later one.
        var generation: UInt64 = 0
        /// A wait whose timeout or cancellation came before it parked: it must not park at all.
        var ended: UInt64?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.rung = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when rung, when `timeout` passes, or when the task is cancelled.
    func wait(timeout: Duration) async {
        let (consumed, generation) = state.withLock { state -> (Bool, UInt64) in
            defer { state.rung = false }
            state.generation &+= 1
            return (state.rung, state.generation)
        }
        if consumed { return }
        let timer = Task { [weak self] in
            // A timer cancelled because its wait already ended must not end the next one.
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            self?.endWait(generation)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled || state.ended == generation {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.endWait(generation)
        }
        timer.cancel()
    }

    /// Ends the wait `generation`, without leaving a remembered ring behind: resumes it if parked, else marks it so
    /// that it does not park (the timer can fire between the wait's start and its parking).
    private func endWait(_ generation: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.generation == generation else { return nil }
            guard let waiter = state.waiter else {
                state.ended = generation
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }
}
