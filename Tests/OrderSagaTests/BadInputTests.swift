import Foundation
import Notification
import OrderSaga
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
}
