import Foundation
import PGClient
import SagaKit

/// Starts sagas for many concurrent callers, several per transaction: group commit for the intake.
///
/// A start that arrives while every connection has a transaction in flight waits for the next free one, which
/// takes everything that queued (up to `maxBatch`) into one `OrderIntake.start` statement. At low load a batch
/// holds one start and adds no wait; under load the batches grow, and one durable commit carries many starts.
/// Each caller still returns only after its own order committed, with its own outcome, so nothing is
/// acknowledged that a crash could lose. Why it exists: a start's one durable transaction was the largest single
/// cost in PostgreSQL under load (docs/PERFORMANCE.md), and commits are the scarce resource.
public actor BatchingIntake {
    public struct Statistics: Sendable, Equatable {
        /// Transactions run.
        public var batches = 0
        /// Starts they carried.
        public var starts = 0
        public var largestBatch = 0
    }

    public let maxBatch: Int
    private let topics: TopicNames
    private let waker: RelayWaker
    private var idle: [PGConnection]
    private var pending: [(request: OrderRequest, continuation: CheckedContinuation<OrderIntake.Outcome, any Error>)] = []
    public private(set) var statistics = Statistics()

    /// `connections`: the transactions that may be in flight at once; the intake uses them, the caller owns
    /// (and closes) them. `maxBatch` 1 is one transaction per start.
    public init(connections: [PGConnection], topics: TopicNames = TopicNames(), maxBatch: Int = 100, waker: RelayWaker = RelayWaker()) {
        precondition(!connections.isEmpty && maxBatch >= 1, "an intake needs a connection and room for a start")
        idle = connections
        self.topics = topics
        self.maxBatch = maxBatch
        self.waker = waker
    }

    /// Starts one saga; returns once its transaction committed. An invalid request throws here and costs the
    /// others in its batch nothing; a failed statement fails every start of its batch (none of them started).
    public func start(_ request: OrderRequest) async throws -> OrderIntake.Outcome {
        try request.validate()
        return try await withCheckedThrowingContinuation { continuation in
            pending.append((request, continuation))
            dispatch()
        }
    }

    private func dispatch() {
        while !pending.isEmpty, let db = idle.popLast() {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            statistics.batches += 1
            statistics.starts += batch.count
            statistics.largestBatch = max(statistics.largestBatch, batch.count)
            Task { await self.run(batch, on: db) }
        }
    }

    private nonisolated func run(
        _ batch: [(request: OrderRequest, continuation: CheckedContinuation<OrderIntake.Outcome, any Error>)], on db: PGConnection
    ) async {
        do {
            let outcomes = try await OrderIntake.start(batch.map(\.request), topics: topics, waker: waker, on: db)
            for (item, outcome) in zip(batch, outcomes) { item.continuation.resume(returning: outcome) }
        } catch {
            for item in batch { item.continuation.resume(throwing: error) }
        }
        await release(db)
    }

    private func release(_ db: PGConnection) {
        idle.append(db)
        dispatch()
    }
}
