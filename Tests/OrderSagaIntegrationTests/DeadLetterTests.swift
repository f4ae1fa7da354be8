import Foundation
import OrderSaga
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import TestSupport

/// `<service> dead-letters` and the tracker's dead-letter table, through the real binaries.
@Suite("Dead letters", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(5)))
struct DeadLetterTests {
    /// The JSON array a `--json` command printed (its one line starting with `[`). Throws rather than records an
    /// issue, so it can be polled.
    static func array(_ output: String) throws -> [[String: Any]] {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("[") }),
              let array = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]]
        else { throw TimedOut(description: "no JSON array in:\n\(output)") }
        return array
    }

    static func object(_ output: String) throws -> [String: Any] {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("{") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { throw TimedOut(description: "no JSON object in:\n\(output)") }
        return object
    }

    @Test("a poison message on orders is listed by each service that refused it, and by the tracker, with its reason and source, never its payload")
    func poisonMessage() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            let orders = cluster.topics(OrderSagaTopics.orders)
            let secret = "not JSON at all, mail secret@example.com"
            try await KafkaOracle.produce(orders, key: "ORD-POISON", value: secret)
            let dead = try await KafkaOracle.waitForMessages(orders + DeadLetters.suffix, count: 3, timeout: .seconds(60))
            let source = try #require(dead.first?.headerMap[DeadLetters.sourceOffsetHeader].flatMap { Int64($0) })
            let sourcePartition = try #require(dead.first?.headerMap[DeadLetters.sourcePartitionHeader].flatMap { Int32($0) })

            for service in [SagaCluster.Service.inventory, .notification] {
                let output = try await cluster.command(service, ["dead-letters", "list", "--json"])
                #expect(!output.contains("secret@example.com"), "no payload in \(service)'s listing")
                let letters = try Self.array(output)
                #expect(letters.count == 1, "\(service) lists its own only: \(letters)")
                let letter = try #require(letters.first)
                let own = try #require(dead.first { $0.headerMap[DeadLetters.serviceHeader] == service.rawValue })
                #expect(letter["id"] as? String == "\(orders).dlq:\(own.partition):\(own.offset)")
                #expect(letter["service"] as? String == service.rawValue)
                #expect(letter["consumer"] as? String == "saga")
                #expect((letter["reason"] as? String)?.hasPrefix("invalid envelope") == true, "\(letter)")
                #expect(letter["source_topic"] as? String == orders)
                #expect(letter["source_partition"] as? Int == Int(sourcePartition) && letter["source_offset"] as? Int == Int(source))
                #expect(letter["key"] as? String == "ORD-POISON")
                #expect(letter["value_bytes"] as? Int == secret.utf8.count && letter["value_truncated"] as? Bool == false)
                #expect(letter["event_type"] is NSNull && letter["saga_id"] is NSNull, "not an envelope: \(letter)")
                #expect(letter["time"] is String)

                let id = try #require(letter["id"] as? String)
                let shown = try await cluster.command(service, ["dead-letters", "show", id])
                #expect(shown.contains("invalid envelope") && shown.contains("\(orders) partition \(sourcePartition) offset \(source)"), "\(shown)")
                #expect(shown.contains(DeadLetters.reasonHeader) && !shown.contains("secret@example.com"), "header names, never the payload: \(shown)")
                let text = try await cluster.command(service, ["dead-letters", "list", "--source-topic", "orders", "--since", "1h"])
                #expect(text.contains(id) && !text.contains("secret@example.com"), "\(text)")
            }
            // Payment reads no `orders`: nothing, and that is not an error.
            #expect(try Self.array(try await cluster.command(.payment, ["dead-letters", "list", "--json"])).isEmpty)
            #expect(try await cluster.command(.payment, ["dead-letters", "list"]).contains("no dead letters"))

            // The tracker recorded all three (its own projection refused it too), under the key as the saga.
            let tracked = try await eventually("the tracker to record the three dead letters", timeout: .seconds(30), every: .milliseconds(300)) {
                let rows = try Self.array(try await cluster.command(.tracker, ["dead-letters", "--json"]))
                return rows.count == 3 ? rows : nil
            }
            #expect(Set(tracked.compactMap { $0["service"] as? String }) == ["inventory", "notification", "tracker"])
            for row in tracked {
                #expect(row["saga_id"] as? String == "ORD-POISON" && row["source_topic"] as? String == orders, "\(row)")
                #expect(row["source_offset"] as? Int == Int(source) && (row["reason"] as? String)?.hasPrefix("invalid envelope") == true)
            }
            let inventoryOnly = try Self.array(try await cluster.command(.tracker, ["dead-letters", "--service", "inventory", "--json"]))
            #expect(inventoryOnly.count == 1)
            #expect(try Self.array(try await cluster.command(.tracker, ["dead-letters", "--saga", "ORD-NONE", "--json"])).isEmpty)
            #expect(!(try await cluster.command(.tracker, ["dead-letters"])).contains("secret@example.com"))

            // Usage errors: exit 2, one line; an id nobody has: exit 1.
            for arguments in [
                ["dead-letters", "show", "not-an-id"], ["dead-letters", "list", "--limit", "0"],
                ["dead-letters", "list", "--source-topic", "inventory"], ["dead-letters", "redrive"],
                ["dead-letters", "redrive", "--all", "\(orders).dlq:0:0"], ["dead-letters", "redrive", "\(orders).dlq:0:0", "--since", "1h"],
            ] {
                let attempt = try await cluster.attempt(.inventory, arguments)
                #expect(attempt.status == 2, "\(arguments): \(attempt.output)")
                #expect(attempt.output.split(separator: "\n").count == 1, "one line: \(attempt.output)")
            }
            let missing = try await cluster.attempt(.inventory, ["dead-letters", "show", "\(orders).dlq:0:9999"])
            #expect(missing.status == 1 && missing.output.contains("no dead letter"), "\(missing.output)")
            // A letter at that id exists, but Notification refused it: not Inventory's to show.
            let notifications = try #require(dead.first { $0.headerMap[DeadLetters.serviceHeader] == "notification" })
            let others = try await cluster.attempt(.inventory, ["dead-letters", "show", "\(orders).dlq:\(notifications.partition):\(notifications.offset)"])
            #expect(others.status == 1 && others.output.contains("no dead letter"), "\(others.output)")
            // A partition the topic does not have.
            let nowhere = try await cluster.attempt(.inventory, ["dead-letters", "show", "\(orders).dlq:99:0"])
            #expect(nowhere.status == 1 && nowhere.output.contains("no dead letter"), "\(nowhere.output)")
        }
    }

    @Test("an OrderPlaced refused by SAGAKIT_DEAD_LETTER_SAGAS is redriven once Inventory runs without it: the saga completes once, the redrive is audited, a second one changes nothing, a dry run publishes nothing")
    func redriveAfterFix() async throws {
        try await SagaCluster.with { cluster in
            for service in [SagaCluster.Service.payment, .notification, .tracker] { try await cluster.start(service) }
            try await cluster.start(.inventory, environment: [DeadLetterFault.variable: "ORD-DLQ-*"])
            #expect(cluster.process(.inventory).output.contains("fault option: dead-lettering every event of the sagas that match ORD-DLQ-*"))
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            _ = try await SagaScenarioTests.start(cluster, "ORD-DLQ-1")
            let orders = cluster.topics(OrderSagaTopics.orders)
            let dlq = orders + DeadLetters.suffix
            _ = try await eventually("Inventory to dead-letter ORD-DLQ-1", timeout: .seconds(60), every: .milliseconds(300)) {
                try await KafkaOracle.readAll(dlq).first { $0.headerMap[DeadLetters.serviceHeader] == "inventory" }
            }
            let letters = try Self.array(try await cluster.command(.inventory, ["dead-letters", "list", "--json"]))
            let letter = try #require(letters.first)
            #expect(letters.count == 1)
            #expect(letter["reason"] as? String == DeadLetterFault.reason)
            #expect(letter["event_type"] as? String == "OrderPlaced" && letter["saga_id"] as? String == "ORD-DLQ-1", "\(letter)")
            let id = try #require(letter["id"] as? String)
            #expect(try await cluster.status("ORD-DLQ-1")?.state == "running", "nothing reserved")
            let counted = try await eventually("status to count the dead letter", timeout: .seconds(30), every: .milliseconds(300)) {
                let status = try Self.object(try await cluster.command(.tracker, ["status", "ORD-DLQ-1", "--json"]))
                return status["dead_letters"] as? Int == 1 ? status : nil
            }
            #expect(counted["saga_id"] as? String == "ORD-DLQ-1")
            #expect(try await cluster.command(.tracker, ["status", "ORD-DLQ-1"]).contains("dead letters: 1"))

            // The fix: Inventory again, without the fault option.
            try await cluster.stop(.inventory)
            try await cluster.start(.inventory)
            let db = try await cluster.connect(.inventory)
            func auditRows() async throws -> Int { try await db.query("SELECT count(*) AS n FROM sagakit_audit_log")[0].decode("n") }

            let onOrders = try await KafkaOracle.readAll(orders).count
            let dry = try Self.array(try await cluster.command(.inventory, ["dead-letters", "redrive", id, "--dry-run", "--json"]))
            #expect(dry.first?["dry_run"] as? Bool == true && dry.first?["offset"] == nil, "\(dry)")
            #expect(dry.first?["topic"] as? String == orders && dry.first?["saga_id"] as? String == "ORD-DLQ-1")
            #expect(try await KafkaOracle.readAll(orders).count == onOrders, "a dry run publishes nothing")
            #expect(try await auditRows() == 0, "and records nothing")

            let done = try Self.array(try await cluster.command(.inventory, ["dead-letters", "redrive", id, "--by", "test-operator", "--json"]))
            #expect(done.first?["dry_run"] as? Bool == false && done.first?["offset"] is Int && done.first?["previous_redrives"] as? Int == 0, "\(done)")
            let states = try await cluster.waitForTerminal(["ORD-DLQ-1"], timeout: .seconds(60))
            #expect(states["ORD-DLQ-1"] == "completed")
            let redriven = try #require(try await KafkaOracle.readAll(orders).last { $0.headerMap[DeadLetterRedrive.redrivenFromHeader] == id })
            #expect(redriven.headerMap[DeadLetterRedrive.redrivenByHeader] == "test-operator" && redriven.key == "ORD-DLQ-1")
            #expect(!redriven.headerMap.keys.contains { $0.hasPrefix(DeadLetters.headerPrefix) }, "the dead-lettering's headers are gone")
            let audit = try await db.query("SELECT actor, action, target, saga_id, outcome FROM sagakit_audit_log ORDER BY id")
            #expect(audit.count == 1)
            #expect(try audit[0].decode("actor", as: String.self) == "test-operator")
            #expect(try audit[0].decode("action", as: String.self) == AuditLog.Action.redriveDeadLetter)
            #expect(try audit[0].decode("target", as: String.self) == id && audit[0].decode("saga_id", as: String?.self) == "ORD-DLQ-1")
            #expect(try audit[0].decode("outcome", as: String.self) == "done")

            // Again: published and audited, and the inbox skips it.
            let duplicatesBefore = cluster.process(.inventory).occurrences(of: "outcome=duplicate")
            let again = try Self.array(try await cluster.command(.inventory, ["dead-letters", "redrive", id, "--json"]))
            #expect(again.first?["previous_redrives"] as? Int == 1)
            try await waitUntil("Inventory to skip the second redrive as a duplicate", timeout: .seconds(30)) {
                cluster.process(.inventory).occurrences(of: "outcome=duplicate") > duplicatesBefore
            }
            #expect(try await auditRows() == 2)
            let reservations: Int = try await db.query("SELECT count(*) AS n FROM reservations WHERE order_id = 'ORD-DLQ-1'")[0].decode("n")
            #expect(reservations == 1, "reserved once")
            await db.close()
            #expect(try cluster.emlFiles() == ["ORD-DLQ-1.eml"], "confirmed once")
            #expect(try await cluster.status("ORD-DLQ-1")?.state == "completed")
            let check = try await cluster.check(["--require-terminal"])
            #expect(check.clean, "saga-check: \(check.output)")
        }
    }
}
