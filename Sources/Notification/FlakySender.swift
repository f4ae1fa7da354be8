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
        try wrapped.send(message)
    }
}

final class AttemptCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func next(_ key: String) -> Int {
        counts.withLock { counts in
            counts[key, default: 0] += 1
            return counts[key]!
        }
    }
}
