import Foundation
import Loyalty
import OrderSaga
import PGClient
import SagaKit
import Testing
import TestSupport

/// The real `loyalty-service` binary on a scratch database and scratch topics, fed Payment's events with kcat.
@Suite("Loyalty service", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(5)))
struct LoyaltyServiceTests {
    @Test("points are awarded once per capture and revoked once per refund; redelivered and replayed events change nothing")
    func awardsAndRevokesOnce() async throws {
        try await LoyaltyHarness.with { loyalty in
            let service = try await loyalty.start()
            let capturedA = try await loyalty.publish(PaymentCaptured(orderID: "ORD-A", chargeID: "ch-a", amountCents: 5999, currency: "EUR"))
            try await loyalty.publish(PaymentCaptured(orderID: "ORD-B", chargeID: "ch-b", amountCents: 1000, currency: "EUR"))
            let refundedB = try await loyalty.publish(PaymentRefunded(orderID: "ORD-B", chargeID: "ch-b", refundID: "rf-b", amountCents: 1000, currency: "EUR"))
            // Not handled by Loyalty, but known to its registry: ignored, not dead-lettered.
            try await loyalty.publish(PaymentDeclined(orderID: "ORD-D", amountCents: 100, currency: "EUR", reason: "card declined"))
            // A refund before its capture: nothing to take back, and the late capture awards nothing.
            try await loyalty.publish(PaymentRefunded(orderID: "ORD-C", chargeID: "ch-c", refundID: "rf-c", amountCents: 500, currency: "EUR"))
            try await loyalty.publish(PaymentCaptured(orderID: "ORD-C", chargeID: "ch-c", amountCents: 500, currency: "EUR"))

            let expected = [
                Award(orderID: "ORD-A", points: 118, status: "awarded"),  // 59 whole units at 2 points each
                Award(orderID: "ORD-B", points: 20, status: "revoked"),
                Award(orderID: "ORD-C", points: 0, status: "revoked"),
            ]
            try await waitUntil("the awards to settle", timeout: .seconds(60)) { try await loyalty.awards() == expected }
            let emitted = try await KafkaOracle.waitForMessages(loyalty.topics(LoyaltyTopics.loyalty), count: 3)
            let envelopes = try emitted.map { try EventEnvelope.decode(Array(($0.payload ?? "").utf8)) }
            #expect(envelopes.map(\.eventType).sorted() == ["LoyaltyPointsAwarded", "LoyaltyPointsAwarded", "LoyaltyPointsRevoked"])
            let revoked = try #require(envelopes.first { $0.eventType == LoyaltyPointsRevoked.eventType })
            #expect(revoked.sagaID == "ORD-B" && revoked.causationID == refundedB.eventID && revoked.producer == Loyalty.name)

            // Redelivered: the same events (the inbox skips them), and a capture and a refund under new event ids
            // (the awards' key and status skip them).
            try await loyalty.publish(capturedA)
            try await loyalty.publish(refundedB)
            try await loyalty.publish(PaymentCaptured(orderID: "ORD-A", chargeID: "ch-a", amountCents: 5999, currency: "EUR"))
            try await loyalty.publish(PaymentRefunded(orderID: "ORD-B", chargeID: "ch-b", refundID: "rf-b", amountCents: 1000, currency: "EUR"))
            try await waitUntil("the repeats to be handled", timeout: .seconds(60)) {
                service.occurrences(of: "outcome=duplicate") == 2 && service.occurrences(of: "outcome=already decided") == 2
                    && service.occurrences(of: "outcome=already revoked") == 1
            }
            #expect(try await loyalty.awards() == expected)

            // Replayed: the whole payment topic again, after `replay` moved the stopped group back.
            service.terminate()
            #expect(try await service.waitForExit().status == 0)
            let dryRun = try await loyalty.command(["replay", "--topic", "payment", "--from", "earliest", "--dry-run", "--json"])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(dryRun.split(separator: "\n").first { $0.hasPrefix("{") }!.utf8)) as? [String: Any])
            let plan = try #require(report["plan"] as? [String: Any])
            #expect(plan["already_applied"] as? Int == 9 && plan["would_apply"] as? Int == 0 && plan["not_handled"] as? Int == 1)
            #expect(try await loyalty.command(["replay", "--topic", "payment", "--from", "earliest"]).contains("done: group"))
            let restarted = try await loyalty.start()
            try await waitUntil("the replayed events to be skipped", timeout: .seconds(60)) { restarted.occurrences(of: "outcome=duplicate") == 9 }
            #expect(try await loyalty.awards() == expected)
            let outbox = try await loyalty.outboxStatus()
            #expect(outbox.pending == 0 && outbox.publishedRetained == 3, "nothing emitted since: \(outbox)")
            #expect(try await KafkaOracle.readAll(loyalty.topics(LoyaltyTopics.loyalty)).count == 3)
            #expect(try await KafkaOracle.readAll(loyalty.topics(OrderSagaTopics.payment) + DeadLetters.suffix).isEmpty)
        }
    }
}

/// A scratch database and topics for `loyalty-service`, the processes a test starts, and cleanup of all of it.
final class LoyaltyHarness: @unchecked Sendable {
    // @unchecked: only the test's own task touches `processes`.
    let database: ScratchDatabase
    let topics: ScratchTopics
    private var processes: [ChildProcess] = []

    private init(database: ScratchDatabase, topics: ScratchTopics) {
        self.database = database
        self.topics = topics
    }

    static func with(_ body: (LoyaltyHarness) async throws -> Void) async throws {
        let harness = LoyaltyHarness(
            database: try await ScratchDatabase.create("loyalty"),
            topics: try await ScratchTopics.create([OrderSagaTopics.payment, LoyaltyTopics.loyalty]))
        do {
            try await harness.command(["migrate"])
            try await body(harness)
            await harness.cleanup()
        } catch {
            for process in harness.processes { print("--- \(process.label) (pid \(process.pid)) ---\n\(process.tail(60))") }
            await harness.cleanup()
            throw error
        }
    }

    var environment: [String: String] {
        [
            "LOYALTY_DATABASE_URL": database.url,
            "LOYALTY_POINTS_PER_UNIT": "2",
            "SAGAKIT_TOPIC_PREFIX": topics.prefix,
            "SAGAKIT_LOG_LEVEL": "info",
        ]
    }

    /// `loyalty-service run`, once its consumer has partitions.
    func start() async throws -> ChildProcess {
        let process = try ChildProcess.start(
            TestEnvironment.executable("loyalty-service"), ["run", "--relay-poll-ms", "100"], environment: environment, label: "loyalty")
        processes.append(process)
        try await process.waitForOutput("partitions assigned", timeout: .seconds(60))
        return process
    }

    /// Runs a `loyalty-service` command to completion and returns its output.
    @discardableResult
    func command(_ arguments: [String]) async throws -> String {
        try await ChildProcess.run(TestEnvironment.executable("loyalty-service"), arguments, environment: environment)
    }

    /// Puts a Payment event on the payment topic as Payment's relay would: keyed by its saga id, the order id.
    @discardableResult
    func publish<E: PaymentEvent>(_ event: E) async throws -> EventEnvelope {
        let envelope = try EventEnvelope(event, sagaID: event.orderID, causationID: nil, producer: "payment")
        try await publish(envelope)
        return envelope
    }

    func publish(_ envelope: EventEnvelope) async throws {
        try await KafkaOracle.produce(
            topics(OrderSagaTopics.payment), key: envelope.sagaID, value: String(decoding: envelope.encoded(), as: UTF8.self))
    }

    func awards() async throws -> [Award] {
        let db = try await database.connect()
        let awards = try await LoyaltyAdmin.awards(on: db)
        await db.close()
        return awards
    }

    func outboxStatus() async throws -> Outbox.Status {
        let db = try await database.connect()
        let status = try await Outbox.status(on: db)
        await db.close()
        return status
    }

    func cleanup() async {
        for process in processes { await process.stop() }
        await topics.delete()
        await database.drop()
    }
}

/// Payment's events, each naming its order: the saga id.
protocol PaymentEvent: SagaEvent {
    var orderID: String { get }
}

extension PaymentCaptured: PaymentEvent {}
extension PaymentRefunded: PaymentEvent {}
extension PaymentDeclined: PaymentEvent {}
