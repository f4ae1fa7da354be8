import Synchronization

/// Wakes one waiting task early: a loop waits up to its poll interval and anyone may ring to cut the wait short.
/// A ring with nobody waiting is remembered, so the next wait returns at once.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
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
        let consumed = state.withLock { state -> Bool in
            defer { state.rung = false }
            return state.rung
        }
        if consumed { return }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.ringIfWaiting()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.ringIfWaiting()
        }
        timer.cancel()
    }

    /// Wakes a waiter without leaving a remembered ring behind (for timeouts and cancellation).
    private func ringIfWaiting() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
