import Foundation
import InMemoryLogging
import KafkaClient
import Logging
import Testing
import TestSupport

/// What needs no broker: configuration checks, logging, and use after close. Nothing listens on port 1, so any
/// success here cannot come from a broker.
@Suite("KafkaClient offline", .timeLimit(.minutes(1)))
struct KafkaOfflineTests {
    static let nowhere = "127.0.0.1:1"
    /// librdkafka logs every refused connection to port 1; nobody needs to read that.
    static let silent = Logger(label: "kafka-offline") { _ in SwiftLogNoOpLogHandler() }

    @Test("an unknown producer property makes KafkaProducer.init throw .configuration with librdkafka's message")
    func producerUnknownProperty() {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere, producerProperties: ["no.such.property": "1"])
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, clientID: "bad", logger: Self.silent)
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("No such configuration property") == true, "\(String(describing: error))")
        #expect(error?.message.contains("no.such.property") == true)
    }

    @Test("a bad producer value (acks=maybe) makes KafkaProducer.init throw .configuration with librdkafka's message")
    func producerBadValue() throws {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere, producerProperties: ["acks": "maybe"])
        let error = try #require(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, clientID: "bad", logger: Self.silent)
        }
        #expect(error.code == .configuration)
        // librdkafka names the property by its canonical name: Invalid value for configuration property "request.required.acks".
        #expect(error.message.contains("Invalid value"), "\(error)")
        #expect(error.message.contains("acks"), "\(error)")
    }

    @Test("a bad value for a pinned consumer property (enable.auto.commit=maybe) is rejected, not silently replaced")
    func consumerBadPinnedValue() throws {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere, consumerProperties: ["enable.auto.commit": "maybe"])
        let error = try #require(throws: KafkaError.self) { try KafkaConsumer.validate(configuration: configuration) }
        #expect(error.code == .configuration)
        // librdkafka's words: Expected bool value for "enable.auto.commit": true or false.
        #expect(error.message.contains("Expected bool value"), "\(error)")
        #expect(error.message.contains("enable.auto.commit"), "\(error)")
    }

    @Test("a bad value that is not pinned (linger.ms=soon) makes KafkaProducer.init throw .configuration")
    func producerBadUnpinnedValue() {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere, properties: ["linger.ms": "soon"])
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, clientID: "bad", logger: Self.silent)
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("linger.ms") == true, "\(String(describing: error))")
        #expect(error?.message.contains("Invalid value") == true, "\(String(describing: error))")
    }

    @Test("KafkaConsumer.validate and KafkaConsumer.init reject an unknown property and a bad value with librdkafka's message")
    func consumerValidation() throws {
        let unknown = KafkaConfiguration(bootstrapServers: Self.nowhere, consumerProperties: ["no.such.property": "1"])
        let unknownError = #expect(throws: KafkaError.self) { try KafkaConsumer.validate(configuration: unknown) }
        #expect(unknownError?.code == .configuration)
        #expect(unknownError?.message.contains("No such configuration property") == true, "\(String(describing: unknownError))")

        let badValue = KafkaConfiguration(bootstrapServers: Self.nowhere, consumerProperties: ["acks": "maybe"])
        let badValueError = #expect(throws: KafkaError.self) { try KafkaConsumer.validate(configuration: badValue) }
        #expect(badValueError?.code == .configuration)
        #expect(badValueError?.message.contains("Invalid value") == true, "\(String(describing: badValueError))")
        #expect(badValueError?.message.contains("acks") == true, "\(String(describing: badValueError))")

        let badReset = KafkaConfiguration(bootstrapServers: Self.nowhere, consumerProperties: ["auto.offset.reset": "sometimes"])
        #expect(throws: KafkaError.self) { try KafkaConsumer.validate(configuration: badReset) }
        let initError = #expect(throws: KafkaError.self) {
            _ = try KafkaConsumer(configuration: badReset, groupID: "g", clientID: "c", logger: Self.silent)
        }
        #expect(initError?.code == .configuration)

        // The stack's own consumer settings are fine.
        try KafkaConsumer.validate(configuration: TestEnvironment.kafka)
    }

    @Test("a property shared by every client is checked for the admin client too")
    func adminValidation() {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere, properties: ["no.such.property": "1"])
        let error = #expect(throws: KafkaError.self) { _ = try KafkaAdmin(configuration: configuration, logger: Self.silent) }
        #expect(error?.code == .configuration)
    }

    @Test("parseProperties reads key=value pairs separated by ';' or newlines, skipping blanks and comments")
    func parseProperties() throws {
        let parsed = try KafkaConfiguration.parseProperties("a=1; b = 2\n# comment=ignored\n\n  c=x=y ;;")
        #expect(parsed == ["a": "1", "b": "2", "c": "x=y"])
        #expect(throws: KafkaError.self) { try KafkaConfiguration.parseProperties("a=1;novalue") }
        #expect(throws: KafkaError.self) { try KafkaConfiguration.parseProperties("=value") }
    }

    @Test("a secret with ';' survives: escaped as '\\;' in a variable, as written in a file; an error never quotes an entry")
    func semicolonsInSecrets() throws {
        #expect(try KafkaConfiguration.parseProperties("sasl.password=ab\\;cd;sasl.username=u") == ["sasl.password": "ab;cd", "sasl.username": "u"])
        // Other backslashes stay as written.
        #expect(try KafkaConfiguration.parseProperties("ssl.ca.location=C:\\certs\\ca.pem") == ["ssl.ca.location": "C:\\certs\\ca.pem"])
        #expect(try KafkaConfiguration.parseProperties("sasl.password=ab;cd\r\nx=1", semicolons: false) == ["sasl.password": "ab;cd", "x": "1"])
        let error = try #require(throws: KafkaError.self) { try KafkaConfiguration.parseProperties("a=1\nsasl.password hunter2", semicolons: false) }
        #expect(error.message == "entry 2 is not key=value")
        #expect(!error.description.contains("hunter2"))
    }

    @Test("librdkafka's log lines reach swift-log with the client's metadata")
    func librdkafkaLogsReachSwiftLog() async throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "kafka-log-test") { _ in handler }
        // A consumer-only property on a producer: librdkafka warns (CONFWARN) that it will be ignored.
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere, producerProperties: ["session.timeout.ms": "6000"])
        let producer = try KafkaProducer(configuration: configuration, clientID: "log-probe", logger: logger)
        let warning = try await eventually("librdkafka's configuration warning", timeout: .seconds(10), every: .milliseconds(20)) {
            handler.entries.first { "\($0.message)".contains("session.timeout.ms") }
        }
        await producer.close(timeout: .seconds(1))
        #expect(warning.level == .warning)
        #expect("\(warning.message)".contains("ignored"), "\(warning.message)")
        #expect(warning.metadata["kafka.facility"] == "CONFWARN")
        #expect(warning.metadata["kafka.client"] == "log-probe")
    }

    @Test("use after close throws .shutdown: consumer poll/store/commit, producer send, admin calls")
    func useAfterClose() async throws {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere)
        let consumer = try KafkaConsumer(configuration: configuration, groupID: "closed", clientID: "closed", logger: Self.silent)
        await consumer.close()
        await consumer.close()  // idempotent
        let pollError = await #expect(throws: KafkaError.self) { try await consumer.poll(timeout: .milliseconds(10)) }
        #expect(pollError?.code == .shutdown)
        let storeError = await #expect(throws: KafkaError.self) {
            try await consumer.storeOffsets([KafkaTopicPartitionOffset(topic: "t", partition: 0, offset: 1)])
        }
        #expect(storeError?.code == .shutdown)
        let commitError = await #expect(throws: KafkaError.self) { try await consumer.commit() }
        #expect(commitError?.code == .shutdown)
        let subscribeError = await #expect(throws: KafkaError.self) { try await consumer.subscribe(["t"]) }
        #expect(subscribeError?.code == .shutdown)

        let producer = try KafkaProducer(configuration: configuration, clientID: "closed", logger: Self.silent)
        await producer.close(timeout: .seconds(1))
        let sendError = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaOutgoingMessage(topic: "t", key: "k", value: [1]))
        }
        #expect(sendError?.code == .shutdown)
        let batch = await producer.send([KafkaOutgoingMessage(topic: "t", key: "k", value: [1]), KafkaOutgoingMessage(topic: "t", key: "k", value: [2])])
        #expect(batch.count == 2)
        for outcome in batch {
            guard case .failure(let error) = outcome else {
                Issue.record("a send after close succeeded")
                continue
            }
            #expect(error.code == .shutdown)
        }
        #expect(producer.outstandingCount == 0)

        let admin = try KafkaAdmin(configuration: configuration, logger: Self.silent)
        await admin.close()
        let adminError = await #expect(throws: KafkaError.self) { try await admin.partitions(of: "t") }
        #expect(adminError?.code == .shutdown)
    }

    @Test("closing a producer while tasks are sending: every send returns failed, and fatalError() after close is nil")
    func closeWhileSending() async throws {
        let configuration = KafkaConfiguration(bootstrapServers: Self.nowhere)
        // The handle used to be destroyed under a send that had registered but not yet produced; repeat the race.
        for round in 0..<30 {
            let producer = try KafkaProducer(configuration: configuration, clientID: "race-\(round)", logger: Self.silent)
            let outcomes = await withTaskGroup(of: [Result<KafkaDeliveryReport, KafkaError>].self) { group in
                for sender in 0..<4 {
                    group.addTask {
                        await producer.send((0..<200).map { KafkaOutgoingMessage(topic: "t", key: "k\(sender)", value: [UInt8($0 % 256)]) })
                    }
                }
                group.addTask {
                    await producer.close(timeout: .zero)
                    return []
                }
                return await group.reduce(into: []) { $0 += $1 }
            }
            // Nothing listens on port 1: whichever sends got in before the close are failed by it, the rest refused.
            #expect(outcomes.count == 800)
            #expect(outcomes.allSatisfy { if case .failure = $0 { true } else { false } })
            #expect(producer.outstandingCount == 0)
            #expect(producer.fatalError() == nil)
        }
    }
}
