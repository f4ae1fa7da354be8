import Foundation
import OrderSaga
import PGClient
import SagaKit
import SagaKitService
import Testing
import TestSupport
import Tracker

/// Starting sagas, alone and several per transaction, in a real PostgreSQL database.
@Suite("Order intake", .enabled(if: TestEnvironment.hasStack))
struct IntakeTests {
    static func order(_ id: String, quantity: Int = 1) -> OrderRequest {
        OrderRequest(orderID: id, sku: "w", quantity: quantity, amount: Money(cents: 100), email: "\(id)@example.com")
    }

    static func migrated(_ database: ScratchDatabase) async throws -> PGConnection {
        try await database.connect(migrating: Tracker.allMigrators())
    }

    /// Per order: the transaction that inserted it (`xmin`), and how many outbox, event and saga rows it has.
    static func rows(on db: PGConnection) async throws -> [String: (transaction: String, outbox: Int, events: Int, sagas: Int)] {
        var result: [String: (String, Int, Int, Int)] = [:]
        for row in try await db.query("""
            SELECT o.order_id, o.xmin::text AS tx,
                   (SELECT count(*) FROM sagakit_outbox x WHERE x.message_key = o.order_id) AS outbox,
                   (SELECT count(*) FROM saga_events e WHERE e.saga_id = o.order_id) AS events,
                   (SELECT count(*) FROM sagas s WHERE s.saga_id = o.order_id) AS sagas
            FROM orders o
            """) {
            result[try row.decode("order_id")] = (try row.decode("tx"), try row.decode("outbox"), try row.decode("events"), try row.decode("sagas"))
        }
        return result
    }

    @Test("a batch starts its new orders in one transaction; a repeat within it and an order started before change nothing")
    func batchInOneTransaction() async throws {
        try await withScratchDatabase("intake") { database in
            let db = try await Self.migrated(database)
            guard case .accepted = try await OrderIntake.start(Self.order("old"), notify: false, on: db) else {
                Issue.record("the first start was not accepted"); return
            }
            let outcomes = try await OrderIntake.start(
                [Self.order("c"), Self.order("a"), Self.order("old", quantity: 2), Self.order("b"), Self.order("a", quantity: 3)],
                notify: false, on: db).map { try $0.get() }
            #expect(outcomes.count == 5)
            for index in [0, 1, 3] {
                guard case .accepted = outcomes[index] else { Issue.record("request \(index) not accepted: \(outcomes[index])"); continue }
            }
            guard case .alreadyStarted(_, let sameOld) = outcomes[2], case .alreadyStarted(_, let sameA) = outcomes[4] else {
                Issue.record("the repeats were accepted: \(outcomes)"); return
            }
            #expect(!sameOld && !sameA, "both repeats differ from the order that stands")

            let rows = try await Self.rows(on: db)
            #expect(rows.count == 4)
            #expect(rows.values.allSatisfy { $0.outbox == 1 && $0.events == 1 && $0.sagas == 1 }, "one event per order: \(rows)")
            let batch = Set(["a", "b", "c"].compactMap { rows[$0]?.transaction })
            #expect(batch.count == 1, "the three new orders committed together")
            #expect(!batch.contains(rows["old"]?.transaction ?? ""))
            let quantity: Int = try await db.query("SELECT quantity FROM orders WHERE order_id = 'a'")[0].decode("quantity")
            #expect(quantity == 1, "the first request for an id in the batch wins")
            await db.close()
        }
    }

    @Test("starts that queue behind a transaction in flight share the next one; with a batch of one each has its own")
    func concurrentStartsShareCommits() async throws {
        try await withScratchDatabase("intake") { database in
            let db = try await Self.migrated(database)
            for (maxBatch, prefix) in [(100, "shared"), (1, "alone")] {
                let connection = try await database.connect()
                let intake = BatchingIntake(connections: [connection], maxBatch: maxBatch)
                // Hold the intake's one connection in its first start: a lock on `orders` keeps that insert waiting
                // until every other start has queued behind it.
                let gate = try await database.connect()
                try await gate.execute("BEGIN; LOCK TABLE orders IN EXCLUSIVE MODE")
                let starts = Task {
                    try await withThrowingTaskGroup(of: (String, OrderIntake.Outcome).self) { group in
                        for index in 0..<40 {
                            let id = "\(prefix)-\(index)"
                            group.addTask { (id, try await intake.start(Self.order(id))) }
                        }
                        return try await group.reduce(into: [String: OrderIntake.Outcome]()) { $0[$1.0] = $1.1 }
                    }
                }
                try await waitUntil("39 starts queued behind the first") { await intake.statistics.queued == 39 }
                try await gate.execute("COMMIT")
                let outcomes = try await starts.value
                await gate.close()

                // Each caller got its own order's outcome: the event id its order row carries.
                let stored = try await db.query("SELECT order_id, event_id FROM orders WHERE order_id LIKE \(prefix + "-%")")
                var eventIDs: [String: UUID] = [:]
                for row in stored { eventIDs[try row.decode("order_id")] = try row.decode("event_id") }
                #expect(eventIDs.count == 40)
                for (id, outcome) in outcomes {
                    guard case .accepted(let eventID, _) = outcome else { Issue.record("\(id): \(outcome)"); continue }
                    #expect(eventIDs[id] == eventID, "\(id) got another order's outcome")
                }
                let statistics = await intake.statistics
                let transactions = Set(try await Self.rows(on: db).filter { $0.key.hasPrefix(prefix + "-") }.map(\.value.transaction))
                #expect(statistics.starts == 40 && transactions.count == statistics.batches, "\(statistics), \(transactions.count) transactions")
                if maxBatch == 1 {
                    #expect(statistics.batches == 40 && statistics.largestBatch == 1, "\(statistics)")
                } else {
                    #expect(statistics.batches == 2 && statistics.largestBatch == 39, "the first start alone, the 39 behind it together: \(statistics)")
                }
                await connection.close()
            }
            await db.close()
        }
    }

    @Test("an invalid start fails alone: one its checks refuse never joins a batch, one the database refuses fails only itself")
    func invalidStartFailsAlone() async throws {
        try await withScratchDatabase("intake") { database in
            let db = try await Self.migrated(database)
            // A rule the intake does not know, as a database may have: the batch holding this sku fails as a whole.
            try await db.execute("ALTER TABLE orders ADD CONSTRAINT no_recalled_sku CHECK (sku <> 'recalled')")
            let connection = try await database.connect()
            let intake = BatchingIntake(connections: [connection])
            let gate = try await database.connect()
            try await gate.execute("BEGIN; LOCK TABLE orders IN EXCLUSIVE MODE")
            let requests = [
                Self.order("first"),
                OrderRequest(orderID: "bad-currency", sku: "w", quantity: 1, amount: Money(cents: 100), currency: "dollars", email: "b@example.com"),
                OrderRequest(orderID: "bad-quantity", sku: "w", quantity: 3_000_000_000, amount: Money(cents: 100), email: "q@example.com"),
                OrderRequest(orderID: "recalled", sku: "recalled", quantity: 1, amount: Money(cents: 100), email: "r@example.com"),
                Self.order("g1"), Self.order("g2"),
            ]
            let results = Task {
                await withTaskGroup(of: (String, Bool).self) { group in
                    for request in requests {
                        group.addTask {
                            do { _ = try await intake.start(request); return (request.orderID, true) } catch { return (request.orderID, false) }
                        }
                    }
                    return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
                }
            }
            // "first" holds the connection; the valid others queue and go in one batch with "recalled".
            try await waitUntil("three starts queued") { await intake.statistics.queued == 3 }
            try await gate.execute("COMMIT")
            #expect(await results.value == ["first": true, "bad-currency": false, "bad-quantity": false, "recalled": false, "g1": true, "g2": true])
            #expect(Set(try await Self.rows(on: db).keys) == ["first", "g1", "g2"])
            await gate.close()
            await connection.close()
            await db.close()
        }
    }
}
