import Foundation
import KafkaClient
import PGClient
import SagaKit
import Testbed
import Testing
import TestSupport

@Suite("Consumer runner", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(3)))
struct ConsumerTests {
    @Test("malformed messages go to the dead-letter topic with the reason, and the next good message is processed")
    func malformedMessagesAreDeadLettered() async throws {
        try await TestbedHarness.with { harness in
            let service = try harness.start()
            try await service.waitForOutput("partitions assigned")
            let saga = "saga-poison"
            let good = try harness.ping(1, saga: saga)
            let unknownType = EventEnvelope(eventType: "Bogus", schemaVersion: 1, sagaID: saga, causationID: nil, producer: "test", payload: Array("{}".utf8))
            let invalidPayload = EventEnvelope(eventType: TestbedPing.eventType, schemaVersion: 1, sagaID: saga, causationID: nil, producer: "test", payload: Array(#"{"sequence":-1}"#.utf8))
            let missingField = EventEnvelope(eventType: TestbedPing.eventType, schemaVersion: 1, sagaID: saga, causationID: nil, producer: "test", payload: Array(#"{"note":"x"}"#.utf8))
            let cases: [(value: String, reason: String)] = [
                ("this is not JSON", "invalid envelope: not valid JSON"),
                (#"{"event_type":"TestbedPing","payload":{}}"#, "invalid envelope: missing event_id"),
                (String(decoding: unknownType.encoded(), as: UTF8.self), "unknown event_type Bogus"),
                (String(decoding: invalidPayload.encoded(), as: UTF8.self), "schema violation: TestbedPing payload: sequence must not be negative"),
                (String(decoding: missingField.encoded(), as: UTF8.self), "schema violation: TestbedPing payload: missing sequence"),
            ]
            // Same key as the good event, so all of them sit before it in one partition.
            for poison in cases {
                try await KafkaOracle.produce(harness.pingTopic, key: saga, value: poison.value)
            }
            let db = try await harness.connect()
            try await harness.append([good], on: db)

            try await waitUntil("the good ping to be applied") {
                try await harness.effectCounts(on: db)[good.envelope.eventID] == 1
            }
            let dead = try await KafkaOracle.waitForMessages(harness.topics(TestbedPing.topic) + ".dlq", count: cases.count)
            #expect(dead.count == cases.count)
            let reasons = dead.map { $0.headerMap[DeadLetters.reasonHeader] ?? "" }
            for poison in cases {
                #expect(reasons.contains { $0.hasPrefix(poison.reason) }, "a dead letter says '\(poison.reason)'; got \(reasons)")
            }
            for message in dead {
                let headers = message.headerMap
                #expect(headers[DeadLetters.sourceTopicHeader] == harness.pingTopic)
                #expect(headers[DeadLetters.sourceOffsetHeader].flatMap(Int64.init) != nil)
                #expect(headers[DeadLetters.consumerHeader] == "pings")
                #expect(headers[DeadLetters.serviceHeader] == "testbed", "names the service that refused it, not only its consumer")
                #expect(headers[DeadLetters.truncatedHeader] == nil, "a small message is kept whole")
                #expect(message.key == saga)
            }
            #expect(Set(dead.compactMap(\.payload)) == Set(cases.map(\.value)), "the original value is kept")
            #expect(service.isRunning)
            await db.close()
        }
    }

    @Test("an event whose handler keeps failing is retried, then dead-lettered, and the events after it are applied")
    func failingHandlerIsDeadLetteredAfterRetries() async throws {
        try await TestbedHarness.with { harness in
            let service = try harness.start(["--fail-sequence", "7"])
            let db = try await harness.connect()
            let pings = try (5...9).map { try harness.ping($0, saga: "saga-failing") }
            try await harness.append(pings, on: db)
            try await waitUntil("pings 5, 6, 8 and 9 to be applied", timeout: .seconds(60)) {
                let counts = try await harness.effectCounts(on: db)
                return [0, 1, 3, 4].allSatisfy { counts[pings[$0].envelope.eventID] == 1 }
            }
            #expect(try await harness.effectCounts(on: db)[pings[2].envelope.eventID] == nil)
            let dead = try await KafkaOracle.waitForMessages(harness.pingTopic + ".dlq", count: 1)
            let reason = dead[0].headerMap[DeadLetters.reasonHeader] ?? ""
            #expect(reason.contains("handler failed 5 times"), "reason: \(reason)")
            #expect(reason.contains("fail on sequence 7"))
            #expect(dead[0].eventID == pings[2].envelope.eventID)
            #expect(service.occurrences(of: "handler failed (attempt") == 4)
            await db.close()
        }
    }

    @Test("a dead letter the producer refuses blocks its partition with an error-level alarm on every attempt; once it can go, nothing was skipped")
    func blockedDeadLetterRaisesAlarms() async throws {
        try await TestbedHarness.with { harness in
            // A 900-byte poison is under the consumer's limit, but its dead letter (the value plus the dlq headers)
            // is over this producer limit: the dead letter fails every time, as one to a missing topic would.
            let service = try harness.start(["--kafka-producer-property", "message.max.bytes=1000"])
            try await service.waitForOutput("partitions assigned")
            let saga = "saga-blocked"
            let good = try harness.ping(1, saga: saga)
            // Both straight onto the topic (the relay shares the producer limit), the good one behind the poison.
            try await KafkaOracle.produce(harness.pingTopic, key: saga, value: String(repeating: "p", count: 900))
            try await KafkaOracle.produce(harness.pingTopic, key: saga, value: String(decoding: good.envelope.encoded(), as: UTF8.self))
            try await waitUntil("two alarms", timeout: .seconds(60)) {
                service.occurrences(of: "dead-letter publish failing for") >= 2
            }
            let topic = harness.pingTopic
            let alarms = service.output.split(separator: "\n").map(String.init).filter { $0.contains("partition blocked") }
            let wellFormed = alarms.filter { $0.contains("error") && $0.contains(topic) }
            #expect(wellFormed.count == alarms.count, "error level, names the source: \(alarms)")
            let warnings = service.occurrences(of: "dead-letter publish failed (attempt")
            #expect(warnings == 4, "warnings until the alarm starts at the fifth")
            let db = try await harness.connect()
            #expect(try await harness.effectCounts(on: db)[good.envelope.eventID] == nil, "nothing behind the poison was consumed")
            #expect(try await KafkaOracle.readAll(harness.pingTopic + ".dlq").isEmpty)

            // With the limit gone, the same partition carries on from the poison: dead-lettered, then the good ping.
            service.terminate()
            _ = try await service.waitForExit(timeout: .seconds(20))
            try harness.start(label: "testbed-unblocked")
            try await waitUntil("the good ping to be applied", timeout: .seconds(60)) {
                try await harness.effectCounts(on: db)[good.envelope.eventID] == 1
            }
            let dead = try await KafkaOracle.waitForMessages(harness.pingTopic + ".dlq", count: 1)
            #expect(dead.count == 1 && dead[0].payload == String(repeating: "p", count: 900))
            await db.close()
        }
    }

    @Test("the batch preparation sees every new event once, and no redelivered one")
    func batchPreparationSeesNewEventsOnce() async throws {
        try await TestbedHarness.with { harness in
            let service = try harness.start()
            try await service.waitForOutput("partitions assigned")
            let db = try await harness.connect()
            let saga = "saga-prepared"
            let pings = try (1...5).map { try harness.ping($0, saga: saga) }
            try await harness.append(pings, on: db)
            try await waitUntil("pings 1 to 5 to be applied") { try await harness.effectCounts(on: db).count == 5 }
            // With the service stopped, ping 2 again (as a broker would redeliver it) and ping 6 behind it in the same
            // partition: the restarted service polls both in one batch.
            service.terminate()
            _ = try await service.waitForExit(timeout: .seconds(20))
            let sixth = try harness.ping(6, saga: saga)
            for message in [pings[1], sixth] {
                try await KafkaOracle.produce(harness.pingTopic, key: saga, value: String(decoding: message.envelope.encoded(), as: UTF8.self))
            }
            let restarted = try harness.start(label: "testbed-restarted")
            try await waitUntil("ping 6 to be applied") { try await harness.effectCounts(on: db).count == 6 }
            // The runner logs a batch's outcomes after its commit: wait for the line, not only the row.
            try await restarted.waitForOutput("outcome=duplicate")
            let duplicateLines = restarted.output.split(separator: "\n").filter { $0.contains("outcome=duplicate") }
            #expect(duplicateLines.count == 1 && duplicateLines.allSatisfy { $0.contains("batch=2") },
                    "the redelivered ping came in one batch with ping 6: \(duplicateLines)")
            let prepared = try await db.query("SELECT unnest(sequences) AS s FROM testbed_batches ORDER BY s").map { try $0.decode("s", as: Int.self) }
            #expect(prepared == [1, 2, 3, 4, 5, 6], "each new ping prepared once, the redelivered one not at all: \(prepared)")
            await db.close()
        }
    }

    @Test("SIGTERM: the service finishes, commits its offsets, exits 0; a restart redelivers nothing")
    func gracefulShutdownCommitsOffsets() async throws {
        try await TestbedHarness.with { harness in
            let service = try harness.start()
            let db = try await harness.connect()
            let pings = try (0..<20).map { try harness.ping($0, saga: "saga-\($0 % 4)") }
            try await harness.append(pings, on: db)
            try await waitUntil("20 pings applied") { try await harness.effectCounts(on: db).count == 20 }

            service.terminate()
            let exit = try await service.waitForExit(timeout: .seconds(20))
            #expect(exit.status == 0 && !exit.signaled, "exit \(exit)")
            #expect(service.output.contains("consumer stopped"))

            // The group's committed offsets cover every ping.
            let onTopic = try await KafkaOracle.readAll(harness.pingTopic)
            var end: [Int32: Int64] = [:]
            for message in onTopic { end[message.partition] = max(end[message.partition] ?? 0, message.offset + 1) }
            let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: TestEnvironment.quietLogger)
            let committed = try await admin.committedOffsets(group: harness.topics.names.groupID(service: "testbed", consumer: "pings"), topics: [harness.pingTopic])
            await admin.close()
            for (partition, offset) in end {
                #expect(committed[KafkaTopicPartition(topic: harness.pingTopic, partition: partition)] == offset)
            }

            let restarted = try harness.start(label: "testbed-restarted")
            let more = try harness.ping(100, saga: "saga-more")
            try await harness.append([more], on: db)
            try await waitUntil("the new ping applied") { try await harness.effectCounts(on: db)[more.envelope.eventID] == 1 }
            // Its log line follows the commit the row shows.
            try await restarted.waitForOutput(more.envelope.eventID.uuidString.lowercased())
            #expect(restarted.occurrences(of: "event handled") == 1, "only the new event was delivered")
            #expect(try await harness.effectCounts(on: db).values.allSatisfy { $0 == 1 })
            await db.close()
        }
    }
}
