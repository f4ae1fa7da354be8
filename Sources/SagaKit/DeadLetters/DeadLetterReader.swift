import Foundation
import KafkaClient
import Logging

/// Reads what one service dead-lettered: its consumers' `<topic>.dlq` topics, without joining a consumer group.
///
/// Several services can share a `.dlq` topic (Inventory and Notification both read `orders`), so each letter is
/// kept only if its `sagakit-dlq-service` header names this service. A listing reads the topics whole, the honest
/// cost of Kafka having no index by header (the commands run by hand); a lookup by id reads one offset, so a
/// redrive costs the same however many letters a flood left.
public struct DeadLetterReader: Sendable {
    /// The start of the group id the reader carries. It never joins or commits, but librdkafka looks up the group's
    /// coordinator, so a cluster with ACLs grants `Read` on groups with this prefix (docs/OPERATIONS.md).
    public static let groupPrefix = "sagakit-dead-letters-inspect-"

    public var service: String
    /// The physical `.dlq` topics to read.
    public var topics: [String]
    public var kafka: KafkaConfiguration
    public var logger: Logger

    /// The dead-letter topics of the (physical) topics a service's consumers read.
    public init(service: String, consumedTopics: [String], kafka: KafkaConfiguration, logger: Logger) {
        self.service = service
        topics = Set(consumedTopics).sorted().map(DeadLetters.topic(for:))
        self.kafka = kafka
        self.logger = logger
    }

    /// Every dead letter of this service, in the topics' order.
    public func read() async throws -> [StoredDeadLetter] {
        try await withReader { reader, admin in
            var found: [StoredDeadLetter] = []
            try await reader.readAll(topics: topics, admin: admin) { message in
                if let stored = StoredDeadLetter(message), stored.letter.service == service { found.append(stored) }
            }
            return found
        }
    }

    /// The dead letters with these ids, in the order asked; throws `NotFound` naming the first missing one. An id
    /// says where its letter is, so each is read at its offset alone, however much the topic holds.
    public func find(_ ids: [String]) async throws -> [StoredDeadLetter] {
        try await withReader { reader, admin in
            var found: [StoredDeadLetter] = []
            for id in ids {
                guard let place = DeadLetter.parseID(id), topics.contains(place.topic),
                      let message = try await reader.message(
                          at: KafkaTopicPartitionOffset(topic: place.topic, partition: place.partition, offset: place.offset), admin: admin),
                      let stored = StoredDeadLetter(message), stored.letter.service == service
                else { throw NotFound(id: id, service: service) }
                found.append(stored)
            }
            return found
        }
    }

    /// A reader under a throwaway group id of the inspect prefix, and an admin client closed on every way out.
    private func withReader<T>(_ body: (KafkaTopicReader, KafkaAdmin) async throws -> T) async throws -> T {
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        let reader = KafkaTopicReader(configuration: kafka, groupID: Self.groupPrefix + UUID().uuidString.prefix(8).lowercased(),
                                      clientID: "\(service)-dead-letters", logger: logger)
        do {
            let result = try await body(reader, admin)
            await admin.close()
            return result
        } catch {
            await admin.close()
            throw error
        }
    }

    public struct NotFound: Error, CustomStringConvertible {
        public let id: String
        public let service: String
        public var description: String { "no dead letter \(id) of the \(service) service" }
    }
}
