import ServiceLifecycle
import Synchronization

/// How a service's loop (a consumer's, the relay's) learns to stop: a graceful shutdown sets the signal and rings
/// the loop's doorbell, so a wait in progress ends at once. A cancelled task counts as stopping too.
final class ShutdownSignal: Sendable {
    /// What the loop waits on between rounds.
    let doorbell = Doorbell()
    private let requested = Atomic<Bool>(false)

    var stopping: Bool { requested.load(ordering: .relaxed) || Task.isCancelled }

    /// Runs the loop until it returns; a graceful shutdown meanwhile sets the signal.
    func run(_ loop: () async throws -> Void) async throws {
        try await withGracefulShutdownHandler {
            try await loop()
        } onGracefulShutdown: {
            self.requested.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
    }
}
