import Foundation
import PGClient
import SagaKit
import Tracing

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
        /// Transactions committed.
        public var batches = 0
        /// Starts they carried.
        public var starts = 0
        public var largestBatch = 0
        /// Starts waiting for a connection now.
        public var queued = 0
    }

    public let maxBatch: Int
    private let topics: TopicNames
    private let waker: RelayWaker
    private var idle: [PGConnection]
    /// A start waiting for a connection, with its caller's trace context when a tracer is on: its `start saga` span
    /// is then a child of the caller's span, whichever task runs the batch.
    private typealias Waiting = (request: OrderRequest, context: ServiceContext?, continuation: CheckedContinuation<OrderIntake.Outcome, any Error>)
    /// Whether a tracer is on, asked once: with tracing off no context is kept.
    private let tracing = SagaTracing.activeTracer != nil
    private var pending: [Waiting] = []
    private var committed = Statistics()
    public var statistics: Statistics {
        var now = committed
        now.queued = pending.count
        return now
    }

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
    /// others nothing. When a batch's statement fails, none of its starts happened; a batch of several is then
    /// tried one start at a time, so a request the database refuses fails alone. A caller cancelled while it
    /// waits still gets its order started: the start is not withdrawn.
    public func start(_ request: OrderRequest) async throws -> OrderIntake.Outcome {
        try request.validate()
        let context = tracing ? ServiceContext.current ?? .topLevel : nil
        return try await withCheckedThrowingContinuation { continuation in
            pending.append((request, context, continuation))
            dispatch()
        }
    }

    private func dispatch() {
        while !pending.isEmpty, let db = idle.popLast() {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            Task { await self.run(batch, on: db) }
        }
    }

    private nonisolated func run(_ batch: [Waiting], on db: PGConnection) async {
        await execute(batch, on: db)
        await release(db)
    }

    /// Resumes every start of the batch exactly once; leaves the connection to the caller.
    private nonisolated func execute(_ batch: [Waiting], on db: PGConnection) async {
        do {
            let contexts = tracing ? batch.map { $0.context ?? .topLevel } : nil
            let results = try await OrderIntake.start(batch.map(\.request), topics: topics, waker: waker, contexts: contexts, on: db)
            await counted(batch.count)
            for (item, result) in zip(batch, results) { item.continuation.resume(with: result) }
        } catch let error as PGError where batch.count > 1 && !error.isConnectionError {
            // The statement failed and nothing started: find the request the database refuses by trying each alone.
            for item in batch { await execute([item], on: db) }
        } catch {
            for item in batch { item.continuation.resume(throwing: error) }
        }
    }

    private func counted(_ starts: Int) {
        committed.batches += 1
        committed.starts += starts
        committed.largestBatch = max(committed.largestBatch, starts)
    }

    private func release(_ db: PGConnection) {
        idle.append(db)
        dispatch()
    }
}
