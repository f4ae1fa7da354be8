import Synchronization

/// Fails the first `failures` attempts of every message with a transient error, then delegates: exercises the
/// retry path in tests and demos.
public struct FlakySender: ConfirmationSender {
    let wrapped: any ConfirmationSender
    let failures: Int
    private let attempts = AttemptCounter()

    public init(wrapping sender: any ConfirmationSender, failures: Int) {
        wrapped = sender
        self.failures = failures
    }

    public func send(_ message: ConfirmationMessage) throws {
        if attempts.next(message.orderID) <= failures {
            throw TransientSendError("simulated transient failure")
        }
        // Past its failures: the count is done with (else one entry per order for the life of the process).
        attempts.forget(message.orderID)
        try wrapped.send(message)
    }
}

final class AttemptCounter: Sendable {
    private let counts = Mutex(RecentEntries<Int>(capacity: DeliveryMemory.capacity))

    func next(_ key: String) -> Int {
        counts.withLock { counts in
            let count = (counts[key] ?? 0) + 1
            counts[key] = count
            return count
        }
    }

    func forget(_ key: String) {
        counts.withLock { $0[key] = nil }
    }
}
