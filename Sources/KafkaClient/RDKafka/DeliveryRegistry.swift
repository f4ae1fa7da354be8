import CRdKafka
import Synchronization

/// Matches delivery reports to the tasks awaiting them. Each produced message carries a numeric id as its
/// librdkafka opaque; the report, served on the producer's poll thread, resumes whoever registered that id.
final class DeliveryRegistry: Sendable {
    typealias Outcome = Result<KafkaDeliveryReport, KafkaError>

    enum Waiter: Sendable {
        case single(CheckedContinuation<KafkaDeliveryReport, any Error>)
        case batch(BatchWaiter, index: Int)
    }

    private struct State {
        var nextID: UInt = 1
        var waiters: [UInt: Waiter] = [:]
        var closed = false
        /// Callers between a successful `register` (or `whileOpen`) and their `leave`: they may still call into the
        /// handle, so it is not destroyed until this is back to zero.
        var users = 0
    }

    private let state = Mutex(State())

    /// Registers waiters for `count` messages and returns their ids, or nil once the producer is closing. On
    /// success the caller holds the handle open until it calls `leave()`, after its produce calls.
    func register(_ make: (Int) -> Waiter, count: Int) -> [UInt]? {
        state.withLock { state in
            guard !state.closed else { return nil }
            state.users += 1
            var ids: [UInt] = []
            ids.reserveCapacity(count)
            for index in 0..<count {
                let id = state.nextID
                state.nextID &+= 1
                if state.nextID == 0 { state.nextID = 1 }
                state.waiters[id] = make(index)
                ids.append(id)
            }
            return ids
        }
    }

    func resolve(_ id: UInt, _ outcome: Outcome) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        Self.deliver(waiter, outcome)
    }

    var pendingCount: Int { state.withLock { $0.waiters.count } }

    /// Ends what a successful `register` started.
    func leave() {
        state.withLock { $0.users -= 1 }
    }

    /// Runs `body`, which may use the handle, unless the producer is closing (then nil).
    func whileOpen<R>(_ body: () -> R) -> R? {
        let entered = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.users += 1
            return true
        }
        guard entered else { return nil }
        defer { leave() }
        return body()
    }

    /// Whether a caller that got in before `close()` may still call into the handle.
    var hasUsers: Bool { state.withLock { $0.users > 0 } }

    /// Refuses new registrations; later `register` calls return nil.
    func close() {
        state.withLock { $0.closed = true }
    }

    /// Fails every waiter still registered (after a flush that timed out).
    func failAll(_ error: KafkaError) {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { Self.deliver(waiter, .failure(error)) }
    }

    private static func deliver(_ waiter: Waiter, _ outcome: Outcome) {
        switch waiter {
        case .single(let continuation):
            continuation.resume(with: outcome.mapError { $0 as any Error })
        case .batch(let batch, let index):
            batch.complete(index, outcome)
        }
    }
}

/// Collects the outcomes of one batch and resumes its task when the last one arrives.
final class BatchWaiter: Sendable {
    private struct State {
        var outcomes: [DeliveryRegistry.Outcome?]
        var remaining: Int
        var continuation: CheckedContinuation<[DeliveryRegistry.Outcome], Never>?
    }

    private let state: Mutex<State>

    init(count: Int, continuation: CheckedContinuation<[DeliveryRegistry.Outcome], Never>) {
        state = Mutex(State(outcomes: Array(repeating: nil, count: count), remaining: count, continuation: continuation))
    }

    func complete(_ index: Int, _ outcome: DeliveryRegistry.Outcome) {
        let finished: (CheckedContinuation<[DeliveryRegistry.Outcome], Never>, [DeliveryRegistry.Outcome])? = state.withLock { state in
            guard state.outcomes[index] == nil else { return nil }
            state.outcomes[index] = outcome
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (continuation, state.outcomes.map { $0! })
        }
        if let (continuation, outcomes) = finished {
            continuation.resume(returning: outcomes)
        }
    }
}
