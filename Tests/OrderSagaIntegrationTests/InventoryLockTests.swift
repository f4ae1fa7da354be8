import Dispatch
import Foundation
@testable import Inventory
import OrderSaga
import PGClient
import SagaKit
import SagaKitService
import Synchronization
import Testing
import TestSupport

/// Inventory's stock locks, with two consumers' transactions interleaved by hand in a real PostgreSQL.
@Suite("Inventory stock locks", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(1)))
struct InventoryLockTests {
    final class Attempts: Sendable {
        let count = Mutex(0)
        func next() -> Int { count.withLock { $0 += 1; return $0 } }
        var value: Int { count.withLock { $0 } }
    }

    static func context(_ event: some SagaEvent, sagaID: String) throws -> EventContext {
        EventContext(envelope: try EventEnvelope(event, sagaID: sagaID, causationID: nil, producer: "test"),
                     topic: "t", partition: 0, offset: 0, trace: nil, producer: Inventory.name)
    }

    /// One consumer batch as the runner applies it: the batch's preparation, then a run of new orders, then a run of
    /// confirmations, in one transaction. `pause` runs between the two runs, on the connection's own thread.
    static func batch(order: OrderPlaced, sent: ConfirmationSent, on db: PGConnection, attempts: Attempts,
                      pause: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        try await db.withTransaction { tx in
            let attempt = attempts.next()
            Inventory.lockStock([order, sent], tx)
            var orderContexts = [try context(order, sagaID: order.orderID)]
            try Inventory.reserve([order], &orderContexts, tx)
            pause(attempt)
            var sentContexts = [try context(sent, sagaID: sent.orderID)]
            try Inventory.fulfil([sent], &sentContexts, tx)
        }
    }

    static func order(_ id: String, sku: String) -> OrderPlaced {
        OrderPlaced(orderID: id, sku: sku, quantity: 1, amountCents: 100, currency: "USD", customerEmail: "a@example.com")
    }

    @Test("two batches that reserve one product and fulfil another, in opposite orders, take turns instead of deadlocking")
    func oppositeOrdersTakeTurns() async throws {
        try await withScratchDatabase("inv") { database in
            let setup = try await database.connect(migrating: Inventory.allMigrators())
            try await setup.execute("""
                INSERT INTO stock (sku, available, reserved, stocked) VALUES ('A', 9, 1, 10), ('B', 9, 1, 10);
                INSERT INTO reservations (order_id, sku, quantity, status) VALUES ('held-a', 'A', 1, 'reserved'), ('held-b', 'B', 1, 'reserved');
                """)
            let first = try await database.connect()
            let second = try await database.connect()
            let firstAttempts = Attempts()
            let secondAttempts = Attempts()
            let paused = Atomic<Bool>(false)
            let resume = DispatchSemaphore(value: 0)

            // The first batch reserves A (and, through its preparation, locks what it will fulfil) and pauses.
            let firstBatch = Task {
                try await Self.batch(order: Self.order("o1", sku: "A"), sent: ConfirmationSent(orderID: "held-b", messageID: "m-b"),
                                     on: first, attempts: firstAttempts) { attempt in
                    guard attempt == 1 else { return }
                    paused.store(true, ordering: .releasing)
                    _ = resume.wait(timeout: .now() + 30)
                }
            }
            try await waitUntil("the first batch holds its locks", timeout: .seconds(20), every: .milliseconds(10)) {
                paused.load(ordering: .acquiring)
            }
            // The second reserves B and fulfils the order held on A: the opposite order.
            let secondBatch = Task {
                try await Self.batch(order: Self.order("o2", sku: "B"), sent: ConfirmationSent(orderID: "held-a", messageID: "m-a"),
                                     on: second, attempts: secondAttempts)
            }
            try await waitUntil("the second batch waits for a lock", timeout: .seconds(20), every: .milliseconds(10)) {
                try await setup.query("""
                    SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """)[0].decode("n", as: Int.self) == 1
            }
            resume.signal()
            try await firstBatch.value
            try await secondBatch.value

            // A deadlock would have failed one transaction, which withTransaction then ran again.
            #expect(firstAttempts.value == 1 && secondAttempts.value == 1,
                    "each batch committed at its first attempt: \(firstAttempts.value), \(secondAttempts.value)")
            let stock = try await setup.query("SELECT sku, available, reserved, fulfilled FROM stock ORDER BY sku").map {
                [try $0.decode("sku", as: String.self), String(try $0.decode("available", as: Int.self)),
                 String(try $0.decode("reserved", as: Int.self)), String(try $0.decode("fulfilled", as: Int.self))]
            }
            #expect(stock == [["A", "8", "1", "1"], ["B", "8", "1", "1"]], "one unit reserved and one sold of each: \(stock)")
            for db in [setup, first, second] { await db.close() }
        }
    }
}
