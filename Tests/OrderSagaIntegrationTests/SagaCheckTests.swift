import Checker
import Foundation
import Inventory
import Notification
import OrderSagaTestSupport
import Payment
import PGClient
import SagaKit
import SagaKitService
import Testing
import Tracker
import TestSupport

/// `saga-check` as a process, against scratch databases migrated by the services' own migrations and holding the
/// demo's four finished sagas as the services record them; then one planted row per invariant.
@Suite("saga-check", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(3)))
struct SagaCheckTests {
    /// Four scratch databases with the four scenarios' final records, and scratch topics (empty; the outboxes
    /// hold nothing published, so the topics owe nothing).
    struct Fixture {
        let databases: [SagaCluster.Service: ScratchDatabase]
        let topics: ScratchTopics

        static func with(_ body: (Fixture) async throws -> Void) async throws {
            var databases: [SagaCluster.Service: ScratchDatabase] = [:]
            for service in SagaCluster.Service.allCases { databases[service] = try await ScratchDatabase.create("chk_\(service.rawValue)") }
            let topics = try await ScratchTopics.create(["orders", "inventory", "payment", "notification"])
            let fixture = Fixture(databases: databases, topics: topics)
            do {
                try await fixture.plantBaseline()
                try await body(fixture)
            } catch {
                await fixture.drop()
                throw error
            }
            await fixture.drop()
        }

        func drop() async {
            await topics.delete()
            for database in databases.values { await database.drop() }
        }

        func execute(_ service: SagaCluster.Service, _ sql: String) async throws {
            let db = try await databases[service]!.connect()
            do {
                try await db.execute(sql.replacingOccurrences(of: "$PREFIX", with: topics.prefix))
            } catch {
                await db.close()
                throw error
            }
            await db.close()
        }

        func check(_ arguments: [String] = []) async throws -> SagaCheckRun {
            try await SagaCheckRun.run(arguments, urls: databases.mapValues { SagaCheckRun.url(for: $0.name) }, topicPrefix: topics.prefix)
        }

        /// ORD-2001 completed, ORD-2002 compensated after a failed confirmation, ORD-2003 compensated after a
        /// decline, ORD-2004 failed (more than the stock): the rows each service writes for them.
        func plantBaseline() async throws {
            for (service, migrators) in [(SagaCluster.Service.inventory, try Inventory.allMigrators()), (.payment, try Payment.allMigrators()),
                                         (.notification, try Notification.allMigrators()), (.tracker, try Tracker.allMigrators())] {
                let db = try await databases[service]!.connect(migrating: migrators)
                await db.close()
            }
            try await execute(.inventory, """
                INSERT INTO stock (sku, available, reserved, fulfilled, stocked) VALUES ('demo-widget', 99, 0, 1, 100);
                INSERT INTO reservations (order_id, sku, quantity, status) VALUES
                  ('ORD-2001', 'demo-widget', 1, 'fulfilled'), ('ORD-2002', 'demo-widget', 1, 'released'),
                  ('ORD-2003', 'demo-widget', 1, 'released');
                INSERT INTO rejections (order_id, sku, quantity, reason) VALUES ('ORD-2004', 'demo-widget', 1000, 'not enough stock');
                """)
            try await execute(.payment, """
                INSERT INTO charges (order_id, charge_id, amount_cents, currency, status) VALUES
                  ('ORD-2001', 'a0000000-0000-0000-0000-000000000001', 5999, 'EUR', 'captured'),
                  ('ORD-2002', 'a0000000-0000-0000-0000-000000000002', 5999, 'EUR', 'refunded');
                INSERT INTO refunds (refund_id, charge_id, order_id, amount_cents, currency) VALUES
                  ('b0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000002', 'ORD-2002', 5999, 'EUR');
                INSERT INTO declines (order_id, amount_cents, currency, reason) VALUES ('ORD-2003', 5999, 'EUR', 'card declined');
                """)
            try await execute(.notification, """
                INSERT INTO confirmations (order_id, status, payment_event_id, amount_cents, currency) VALUES
                  ('ORD-2001', 'sent', gen_random_uuid(), 5999, 'EUR'), ('ORD-2002', 'failed', gen_random_uuid(), 5999, 'EUR');
                """)
            try await execute(.tracker, """
                INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, event_id)
                SELECT id, 'demo-widget', q, 5999, 'EUR', 'buyer@example.com', gen_random_uuid()
                FROM (VALUES ('ORD-2001', 1), ('ORD-2002', 1), ('ORD-2003', 1), ('ORD-2004', 1000)) AS o(id, q);
                INSERT INTO sagas (saga_id, state, started_at, updated_at, finished_at, completed_steps, compensations, event_count)
                SELECT id, state, now(), now(), now(), '{}', '{}', 4
                FROM (VALUES ('ORD-2001', 'completed'), ('ORD-2002', 'compensated'), ('ORD-2003', 'compensated'), ('ORD-2004', 'failed')) AS s(id, state);
                """)
        }
    }

    /// A row that breaks one invariant, in one service's database.
    struct Plant: Sendable, CustomTestStringConvertible {
        var invariant: Invariant
        var what: String
        var service: SagaCluster.Service
        var sql: String
        var saga: String?
        var arguments: [String] = []

        var testDescription: String { "\(invariant.rawValue): \(what)" }

        static let all: [Plant] = [
            Plant(invariant: .sagaTerminal, what: "a saga still running, with --require-terminal", service: .tracker, sql: """
                INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, event_id)
                VALUES ('ORD-2005', 'demo-widget', 1, 5999, 'EUR', 'b@example.com', gen_random_uuid());
                INSERT INTO sagas (saga_id, state, updated_at, completed_steps, compensations, event_count)
                VALUES ('ORD-2005', 'running', now(), '{}', '{}', 1);
                """, saga: "ORD-2005", arguments: ["--require-terminal"]),
            Plant(invariant: .stockConserved, what: "five units appear from nowhere", service: .inventory,
                  sql: "UPDATE stock SET available = available + 5"),
            Plant(invariant: .moneyConserved, what: "a captured charge for a saga that failed before payment", service: .payment, sql: """
                INSERT INTO charges (order_id, charge_id, amount_cents, currency, status)
                VALUES ('ORD-2004', gen_random_uuid(), 5999, 'EUR', 'captured')
                """, saga: "ORD-2004"),
            Plant(invariant: .effectOnce, what: "Inventory applied two OrderPlaced for one saga", service: .inventory, sql: """
                INSERT INTO sagakit_inbox (consumer, event_id, event_type, saga_id, topic, kafka_partition, kafka_offset) VALUES
                  ('saga', gen_random_uuid(), 'OrderPlaced', 'ORD-2001', 'orders', 0, 1),
                  ('saga', gen_random_uuid(), 'OrderPlaced', 'ORD-2001', 'orders', 0, 2)
                """, saga: "ORD-2001"),
            Plant(invariant: .effectOnce, what: "a unit held twice: the counters disagree with the reservations", service: .inventory,
                  sql: "UPDATE stock SET available = available - 1, reserved = reserved + 1"),
            Plant(invariant: .outboxPublished, what: "an event committed an hour ago and never published", service: .payment, sql: """
                INSERT INTO sagakit_outbox (event_id, topic, message_key, event_type, payload, created_at)
                VALUES (gen_random_uuid(), '$PREFIXpayment', 'ORD-2001', 'PaymentCaptured', '{}', now() - interval '1 hour')
                """, saga: "ORD-2001"),
            Plant(invariant: .topicsHoldPublished, what: "an event marked published that the topic does not hold", service: .payment, sql: """
                INSERT INTO sagakit_outbox (event_id, topic, message_key, event_type, payload, published_at)
                VALUES (gen_random_uuid(), '$PREFIXpayment', 'ORD-2001', 'PaymentCaptured', '{}', now())
                """),
            Plant(invariant: .projectionMatches, what: "the tracker says completed, the services compensated", service: .tracker,
                  sql: "UPDATE sagas SET state = 'completed' WHERE saga_id = 'ORD-2003'", saga: "ORD-2003"),
            Plant(invariant: .orderKnown, what: "a charge captured for an order nobody placed (a forged event)", service: .payment, sql: """
                INSERT INTO charges (order_id, charge_id, amount_cents, currency, status)
                VALUES ('FORGED-1', gen_random_uuid(), 5999, 'EUR', 'captured')
                """, saga: "FORGED-1"),
        ]
    }

    @Test("each planted violation: exit 1, naming its invariant and saga", arguments: Plant.all)
    func plantedViolation(_ plant: Plant) async throws {
        try await Fixture.with { fixture in
            let before = try await fixture.check(plant.arguments)
            try #require(before.clean, "the baseline is clean: \(before.output)")
            try await fixture.execute(plant.service, plant.sql)
            let after = try await fixture.check(plant.arguments)
            #expect(after.status == 1, "\(after.output)")
            #expect(after.invariants.contains(plant.invariant.rawValue), "names \(plant.invariant.rawValue): \(after.output)")
            if let saga = plant.saga {
                #expect(after.violations.contains { $0["invariant"] as? String == plant.invariant.rawValue && $0["saga_id"] as? String == saga },
                        "names saga \(saga): \(after.output)")
            }
            #expect(after.violations.allSatisfy { !(($0["rows"] as? [String]) ?? []).isEmpty }, "every violation lists its rows")
        }
    }

    @Test("a saga in flight is listed with its age, and is no violation without --require-terminal")
    func inFlightListed() async throws {
        try await Fixture.with { fixture in
            try await fixture.execute(.tracker, Plant.all[0].sql)
            let run = try await fixture.check()
            #expect(run.clean, "\(run.output)")
            let inFlight = run.report["in_flight"] as? [[String: Any]] ?? []
            #expect(inFlight.count == 1 && inFlight.first?["saga_id"] as? String == "ORD-2005" && inFlight.first?["age_seconds"] is Double)
        }
    }

    @Test("sagas the tracker's retention took out of its view are checked by their participants' records, not flagged as lost")
    func purgedFromView() async throws {
        try await Fixture.with { fixture in
            try await fixture.execute(.tracker, """
                UPDATE orders SET created_at = now() - interval '3 hours';
                UPDATE sagas SET observed_terminal_at = now() - interval '2 hours';
                """)
            let db = try await fixture.databases[.tracker]!.connect()
            let purged = try await ProjectionRetention.purge(before: Date().addingTimeInterval(-3600), limit: 100, on: db)
            await db.close()
            #expect(purged.sagas == 4)
            let run = try await fixture.check(["--require-terminal"])
            #expect(run.clean && run.report["purged_from_view"] as? Int == 4 && run.report["terminal"] as? Int == 4, "\(run.output)")
            // Its participants' records still answer for it: a refund that differs from its charge is still caught.
            try await fixture.execute(.payment, "UPDATE refunds SET amount_cents = 1 WHERE order_id = 'ORD-2002'")
            let after = try await fixture.check(["--require-terminal"])
            #expect(after.status == 1 && after.invariants.contains("money_conserved"), "\(after.output)")
        }
    }

    @Test("pages: the same verdict one saga at a time")
    func pages() async throws {
        try await Fixture.with { fixture in
            try await fixture.execute(.tracker, "UPDATE sagas SET state = 'completed' WHERE saga_id = 'ORD-2003'")
            let run = try await fixture.check(["--page-size", "1"])
            #expect(run.status == 1 && run.report["sagas"] as? Int == 4 && run.invariants == ["projection_matches"], "\(run.output)")
        }
    }

    @Test("the check role reads every database and can change none")
    func readOnlyRole() async throws {
        try await Fixture.with { fixture in
            for service in SagaCluster.Service.allCases {
                let db = try await PGConnection.connect(PGConfig(SagaCheckRun.url(for: fixture.databases[service]!.name)), logger: TestEnvironment.quietLogger)
                // Every service's database has SagaKit's outbox; the check reads it.
                let rows = try await db.query("SELECT count(*) AS n FROM sagakit_outbox")
                #expect(try rows[0].decode("n", as: Int.self) >= 0)
                let readOnly = await #expect(throws: PGError.self) { try await db.execute("DELETE FROM sagakit_outbox") }
                #expect(readOnly?.sqlState == "25006", "\(service): the role's sessions are read-only: \(String(describing: readOnly))")
                // A session may turn its read-only default off; the role still holds no privilege to write.
                try await db.execute("SET default_transaction_read_only = off")
                for write in ["INSERT INTO sagakit_outbox DEFAULT VALUES", "UPDATE sagakit_outbox SET topic = topic", "DELETE FROM sagakit_outbox"] {
                    let error = await #expect(throws: PGError.self) { try await db.execute(write) }
                    #expect(error?.sqlState == "42501", "\(service): \(write): \(String(describing: error))")
                }
                await db.close()
            }
            let payment = try await PGConnection.connect(PGConfig(SagaCheckRun.url(for: fixture.databases[.payment]!.name)), logger: TestEnvironment.quietLogger)
            #expect(try await payment.query("SELECT count(*) AS n FROM charges")[0].decode("n", as: Int.self) == 2)
            await payment.close()
        }
    }

    @Test("usage errors exit 2 with one line; an unreachable database exits 1 with one line")
    func usageAndFailure() async throws {
        for arguments in [["--page-size", "0"], ["--grace", "soon"], ["--bogus"]] {
            let child = try ChildProcess.start(TestEnvironment.executable("saga-check"), arguments)
            let exit = try await child.waitForExit()
            #expect(exit.status == 2, "\(arguments): \(child.output)")
            #expect(child.output.split(separator: "\n").count == 1, "one line: \(child.output)")
        }
        let unreachable = "postgresql://sagakit_check:x@127.0.0.1:1/tracker"
        let child = try ChildProcess.start(TestEnvironment.executable("saga-check"), [], environment: [
            "SAGA_CHECK_INVENTORY_DATABASE_URL": unreachable, "SAGA_CHECK_PAYMENT_DATABASE_URL": unreachable,
            "SAGA_CHECK_NOTIFICATION_DATABASE_URL": unreachable, "SAGA_CHECK_TRACKER_DATABASE_URL": unreachable,
        ])
        let exit = try await child.waitForExit()
        #expect(exit.status == 1, "\(child.output)")
        #expect(child.output.split(separator: "\n").count == 1 && child.output.contains("cannot connect to the inventory database"), "\(child.output)")
        #expect(!child.output.contains(":x@"), "no password in the message")
    }
}
