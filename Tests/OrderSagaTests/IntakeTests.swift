import Foundation
import OrderSaga
import PGClient
import SagaKit
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
        let db = try await database.connect()
        for migrator in [try SagaKitSchema.migrator()] + (try Tracker.migrators()) { _ = try await migrator.migrate(db) }
        return db
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
                notify: false, on: db)
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

    @Test("concurrent starts on one connection share transactions; with a batch of one each has its own")
    func concurrentStartsShareCommits() async throws {
        try await withScratchDatabase("intake") { database in
            let db = try await Self.migrated(database)
            for (maxBatch, prefix) in [(100, "shared"), (1, "alone")] {
                let connection = try await database.connect()
                let intake = BatchingIntake(connections: [connection], maxBatch: maxBatch)
                let outcomes = try await withThrowingTaskGroup(of: OrderIntake.Outcome.self) { group in
                    for index in 0..<40 {
                        group.addTask { try await intake.start(Self.order("\(prefix)-\(index)")) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(outcomes.allSatisfy { if case .accepted = $0 { true } else { false } })
                let statistics = await intake.statistics
                let transactions = Set(try await Self.rows(on: db).filter { $0.key.hasPrefix(prefix + "-") }.map(\.value.transaction))
                #expect(statistics.starts == 40 && transactions.count == statistics.batches, "\(statistics), \(transactions.count) transactions")
                if maxBatch == 1 {
                    #expect(statistics.batches == 40 && statistics.largestBatch == 1)
                } else {
                    // The first start runs alone; the others queue behind it and go in few transactions.
                    #expect(statistics.batches < 10 && statistics.largestBatch > 1, "\(statistics)")
                }
                await connection.close()
            }
            await db.close()
        }
    }

    @Test("an invalid start fails alone; the starts beside it commit")
    func invalidStartFailsAlone() async throws {
        try await withScratchDatabase("intake") { database in
            let db = try await Self.migrated(database)
            let connection = try await database.connect()
            let intake = BatchingIntake(connections: [connection])
            let invalid = OrderRequest(orderID: "bad", sku: "w", quantity: 1, amount: Money(cents: 100), currency: "dollars", email: "b@example.com")
            // Three at once on one connection: the two valid ones share a transaction, the invalid one never joins it.
            let results = await withTaskGroup(of: (String, Bool).self) { group in
                for request in [Self.order("g1"), invalid, Self.order("g2")] {
                    group.addTask {
                        do { _ = try await intake.start(request); return (request.orderID, true) } catch { return (request.orderID, false) }
                    }
                }
                return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
            }
            #expect(results == ["g1": true, "bad": false, "g2": true])
            #expect(Set(try await Self.rows(on: db).keys) == ["g1", "g2"])
            await connection.close()
            await db.close()
        }
    }
}
