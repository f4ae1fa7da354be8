import Foundation
import KafkaClient
import Notification
import OrderSaga
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import TestSupport

/// Bad input never stops the line: what a producer can put on a topic, through the real services.
@Suite("Bad input", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(4)))
struct BadInputTests {
    @Test("a 1 MiB message on orders is dead-lettered by every service that reads orders, cut to 64 KiB with its size in a header; the saga behind it completes")
    func oversizedMessage() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            let orders = cluster.topics(OrderSagaTopics.orders)
            // The broker takes it when the producer allows it; every consumer refuses it (over 64 KiB). Its key is
            // the next saga's id, so that saga's OrderPlaced sits behind it in the same partition.
            let size = 1 << 20
            try await KafkaOracle.produce(orders, key: "ORD-AFTER-BIG", value: String(repeating: "x", count: size),
                                          properties: ["message.max.bytes": "8388608"])
            _ = try await SagaScenarioTests.start(cluster, "ORD-AFTER-BIG")
            _ = try await SagaScenarioTests.start(cluster, "ORD-AFTER-BIG-2")
            let states = try await cluster.waitForTerminal(["ORD-AFTER-BIG", "ORD-AFTER-BIG-2"], timeout: .seconds(90))
            #expect(states["ORD-AFTER-BIG"] == "completed" && states["ORD-AFTER-BIG-2"] == "completed", "\(states)")

            let dead = try await KafkaOracle.waitForMessages(orders + DeadLetters.suffix, count: 3, timeout: .seconds(30))
            #expect(dead.count == 3, "one dead letter per service reading orders")
            var services: [String] = []
            for message in dead {
                let headers = message.headerMap
                #expect(message.payload == String(repeating: "x", count: DeadLetters.maxValueBytes), "the first 64 KiB of the value")
                #expect(headers[DeadLetters.truncatedHeader] == "\(size)", "says it was cut, and from what size")
                #expect(headers[DeadLetters.reasonHeader]?.isEmpty == false)
                #expect(headers[DeadLetters.sourceTopicHeader] == orders)
                #expect(headers[DeadLetters.sourceOffsetHeader].flatMap(Int64.init) != nil)
                #expect(message.key == "ORD-AFTER-BIG")
                services.append(headers[DeadLetters.serviceHeader] ?? "?")
            }
            #expect(services.sorted() == ["inventory", "notification", "tracker"], "each names its service: \(services)")
            for process in cluster.allProcesses {
                #expect(process.occurrences(of: "dead-letter publish failed") == 0, "\(process.label) never failed to dead-letter")
                #expect(process.occurrences(of: "partition blocked") == 0, "\(process.label) raised no alarm")
            }
        }
    }

    @Test("an order id of 50 × é behind an ASCII prefix (116 bytes) completes: its confirmation is written, not failed and refunded")
    func longNonASCIIOrderID() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            let id = "ORD-NONASCII-ID-" + String(repeating: "é", count: 50)
            // Spelled out byte by byte, its file name would be 316 bytes: over the file system's 255.
            #expect(id.utf8.count == 116)
            _ = try await SagaScenarioTests.start(cluster, id)
            let states = try await cluster.waitForTerminal([id], timeout: .seconds(60))
            #expect(states[id] == "completed")
            let status = try #require(try await cluster.status(id))
            #expect(status.completedSteps == ["reserve_inventory", "charge_payment", "send_confirmation"] && status.compensations.isEmpty)
            #expect(try cluster.emlFiles() == [SpoolSender.fileName(for: id)])
        }
    }

    @Test("a ConfirmationFailed for 'ORD-…\\0x' is dead-lettered by every reader; the saga ORD-… it would have cut to keeps its charge")
    func nulInSagaIDDeadLettered() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            let id = "ORD-NUL-1"
            _ = try await SagaScenarioTests.start(cluster, id)
            #expect(try await cluster.waitForTerminal([id], timeout: .seconds(60))[id] == "completed")
            // PostgreSQL's client library reads parameters up to a NUL: this event used to refund ORD-NUL-1.
            let forged = id + "\u{0}x"
            let envelope = try EventEnvelope(ConfirmationFailed(orderID: forged, reason: "forged"), sagaID: forged, causationID: nil, producer: "notification")
            let topic = cluster.topics(OrderSagaTopics.notification)
            // Keyed by the forged id, NUL and all (kcat's command line cannot carry one), as its producer would.
            let producer = try KafkaProducer(configuration: TestEnvironment.kafka, clientID: "forger", logger: TestEnvironment.quietLogger)
            _ = try await producer.send(KafkaOutgoingMessage(topic: topic, key: Array(forged.utf8), value: envelope.encoded()))
            await producer.close()
            // Payment, Inventory and the tracker read the notification topic: each dead-letters it, for the id.
            let letters = try await KafkaOracle.waitForMessages(topic + DeadLetters.suffix, count: 3, timeout: .seconds(60))
            #expect(letters.count == 3 && Set(letters.compactMap { $0.headerMap[DeadLetters.serviceHeader] }) == ["payment", "inventory", "tracker"],
                    "\(letters.map(\.headerMap))")
            for letter in letters {
                #expect(letter.headerMap[DeadLetters.reasonHeader]?.contains("saga_id must not contain control characters") == true,
                        "\(letter.headerMap)")
            }
            let truth = try await SagaTruth.settled(cluster, ids: [id])
            #expect(truth.charges[id]?.status == "captured" && truth.refunds.isEmpty, "no refund for \(id)")
            #expect(truth.reservations == [id: "fulfilled"])
            #expect(try await cluster.status(id)?.state == "completed")
        }
    }

    @Test("an OrderPlaced dated 1700 fails its saga (centuries to its rejection) and the tracker goes on to complete the next")
    func ancientOccurredAt() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            let ancient = "ORD-ANCIENT-1"
            let placed = OrderPlaced(orderID: ancient, sku: "no-such-sku", quantity: 1, amountCents: 100, currency: "USD", customerEmail: "buyer@example.com")
            let occurredAt = try #require(RFC3339.parse("1700-01-01T00:00:00Z"))
            let envelope = try EventEnvelope(placed, sagaID: ancient, causationID: nil, producer: "tracker", occurredAt: occurredAt)
            try await KafkaOracle.produce(cluster.topics(OrderSagaTopics.orders), key: ancient, value: String(decoding: envelope.encoded(), as: UTF8.self))
            // Inventory rejects it today: the tracker times a saga of three centuries, which used to overflow.
            #expect(try await cluster.waitForTerminal([ancient], timeout: .seconds(60))[ancient] == "failed")
            let next = "ORD-ANCIENT-2"
            _ = try await SagaScenarioTests.start(cluster, next)
            #expect(try await cluster.waitForTerminal([next], timeout: .seconds(60))[next] == "completed")
        }
    }
}

/// Replay's dry run says which redelivered messages would be dead-lettered again.
@Suite("Replay dry run and bad input", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(4)))
struct ReplayBadInputTests {
    @Test("messages the consumer refused are reported as dead-lettered again, not as taking effect, in text and JSON")
    func dryRunCountsInvalidSeparately() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            let orders = cluster.topics(OrderSagaTopics.orders)
            // Three kinds of bad input the consumer refuses: not an envelope, an unknown type, an OrderPlaced whose
            // payload fails its checks (a known, handled type: the old dry run said it would take effect).
            let unknown = EventEnvelope(eventType: "OrderTeleported", schemaVersion: 1, sagaID: "ORD-BAD-2", causationID: nil, producer: "test", payload: Array("{}".utf8))
            let invalid = EventEnvelope(eventType: OrderPlaced.eventType, schemaVersion: 1, sagaID: "ORD-BAD-3", causationID: nil, producer: "test",
                                        payload: Array(#"{"orderId":"ORD-BAD-3"}"#.utf8))
            try await KafkaOracle.produce(orders, key: "ORD-BAD-1", value: "this is not JSON")
            try await KafkaOracle.produce(orders, key: "ORD-BAD-2", value: String(decoding: unknown.encoded(), as: UTF8.self))
            try await KafkaOracle.produce(orders, key: "ORD-BAD-3", value: String(decoding: invalid.encoded(), as: UTF8.self))
            _ = try await SagaScenarioTests.start(cluster, "ORD-GOOD")
            _ = try await cluster.waitForTerminal(["ORD-GOOD"], timeout: .seconds(60))
            try await waitUntil("inventory to dead-letter the three") {
                try await KafkaOracle.readAll(orders + DeadLetters.suffix).filter { $0.headerMap[DeadLetters.serviceHeader] == "inventory" }.count == 3
            }
            try await cluster.stop(.inventory)

            let dry = try await cluster.command(.inventory, ["replay", "--topic", "orders", "--from", "earliest", "--dry-run", "--json"])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(dry.split(separator: "\n").first { $0.hasPrefix("{") }!.utf8)) as? [String: Any])
            let plan = try #require(report["plan"] as? [String: Any])
            #expect(plan["would_dead_letter"] as? Int == 3, "\(plan)")
            #expect(plan["would_apply"] as? Int == 0, "nothing takes effect: \(plan)")
            #expect(plan["already_applied"] as? Int == 1 && plan["not_handled"] as? Int == 0, "\(plan)")
            let text = try await cluster.command(.inventory, ["replay", "--topic", "orders", "--from", "earliest", "--dry-run"])
            #expect(text.contains("4 events redelivered: 1 already applied (the inbox skips them), 0 not applied before (they take effect now), "
                                  + "0 not handled by this service, 3 invalid (they go to the dead-letter topic again)"), "\(text)")
        }
    }
}

/// A flaky sender never holds a transaction open while it waits to try again.
@Suite("Notification sender retries", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(4)))
struct SenderRetryTests {
    @Test("transient send failures are retried by the consumer, with no transaction open during the backoff; the saga completes, one file")
    func transientFailuresRetriedOutsideTheTransaction() async throws {
        try await SagaCluster.with { cluster in
            for service in [SagaCluster.Service.inventory, .payment, .tracker] { try await cluster.start(service) }
            // Seven failures, eight attempts: the backoffs grow past the threshold below (a sleep inside the
            // handler would have held the transaction 640 ms at the last one).
            try await cluster.start(.notification, arguments: ["--sender-attempts", "8"], environment: ["NOTIFICATION_SENDER_FAILURES": "7"])
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])

            // Watch Notification's database: any session idle inside a transaction for 450 ms or more, which only a
            // backoff inside it makes (an ordinary commit takes milliseconds; a descheduled one, not this long).
            let watcher = try await cluster.connect(.notification)
            let watching = Task { () throws -> (longest: Double, widestGap: Duration, sawService: Bool) in
                var longest = 0.0
                var widestGap = Duration.zero
                var last = ContinuousClock.now
                var sawService = false
                while !Task.isCancelled {
                    let row = try await watcher.query("""
                        SELECT coalesce(max(extract(epoch FROM clock_timestamp() - state_change)) FILTER (WHERE state = 'idle in transaction'), 0)::float8 AS idle,
                               count(*) FILTER (WHERE state IS NOT NULL) AS visible
                        FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                        """)[0]
                    longest = max(longest, try row.decode("idle", as: Double.self))
                    let visible: Int = try row.decode("visible")
                    sawService = sawService || visible > 0
                    widestGap = max(widestGap, ContinuousClock.now - last)
                    last = .now
                    try? await Task.sleep(for: .milliseconds(5))
                }
                return (longest, widestGap, sawService)
            }
            _ = try await SagaScenarioTests.start(cluster, "ORD-FLAKY")
            let states = try await cluster.waitForTerminal(["ORD-FLAKY"], timeout: .seconds(90))
            watching.cancel()
            let watched = try await watching.value
            await watcher.close()

            #expect(states["ORD-FLAKY"] == "completed")
            // Samples close enough that a 640 ms hold would have been seen past 450 ms.
            #expect(watched.sawService && watched.widestGap < .milliseconds(190), "the watcher saw the service's sessions (widest gap \(watched.widestGap))")
            #expect(watched.longest < 0.45, "longest idle in transaction: \(watched.longest) s")
            let notification = cluster.process(.notification)
            #expect(notification.occurrences(of: "transaction failed, will retry: confirmation for order ORD-FLAKY: attempt") == 7, "seven rollbacks and retries")
            #expect(try cluster.emlFiles() == ["ORD-FLAKY.eml"])
            let db = try await cluster.connect(.notification)
            let row = try await db.query("SELECT status, attempts FROM confirmations WHERE order_id = 'ORD-FLAKY'")[0]
            let status: String = try row.decode("status")
            let attempts: Int = try row.decode("attempts")
            #expect(status == "sent" && attempts == 8)
            await db.close()
        }
    }

    @Test("a sender that keeps failing gives up after its attempts: the confirmation fails and the saga is compensated")
    func persistentFailureGivesUp() async throws {
        try await SagaCluster.with { cluster in
            for service in [SagaCluster.Service.inventory, .payment, .tracker] { try await cluster.start(service) }
            try await cluster.start(.notification, arguments: ["--sender-attempts", "3"], environment: ["NOTIFICATION_SENDER_FAILURES": "100"])
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
            _ = try await SagaScenarioTests.start(cluster, "ORD-DOWN")
            let states = try await cluster.waitForTerminal(["ORD-DOWN"], timeout: .seconds(90))
            #expect(states["ORD-DOWN"] == "compensated")
            let status = try #require(try await cluster.status("ORD-DOWN"))
            #expect(status.error == "Confirmation dispatch failed for order ORD-DOWN")
            #expect(cluster.process(.notification).occurrences(of: "transaction failed, will retry: confirmation for order ORD-DOWN: attempt") == 2)
            #expect(try cluster.emlFiles().isEmpty)
        }
    }
}
