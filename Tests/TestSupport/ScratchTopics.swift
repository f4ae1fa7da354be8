import Foundation
import KafkaClient
import SagaKit

/// Topics of its own for one test: a unique prefix, the topics created with it (and their dead-letter topics),
/// deleted afterwards.
public struct ScratchTopics: Sendable {
    public let names: TopicNames
    public let logical: [String]

    public var prefix: String { names.prefix }

    public static func create(_ logical: [String], partitions: Int32 = 3) async throws -> ScratchTopics {
        let names = TopicNames(prefix: "t\(UUID().uuidString.prefix(8).lowercased()).")
        let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: TestEnvironment.quietLogger)
        try await admin.createTopics(logical.flatMap { [names($0), names($0) + DeadLetters.suffix] }, partitions: partitions)
        await admin.close()
        return ScratchTopics(names: names, logical: logical)
    }

    public func callAsFunction(_ logical: String) -> String { names(logical) }

    /// Creates the topics again (after a broker lost them), with the same names.
    public func recreate(partitions: Int32 = 3) async throws {
        let admin = try KafkaAdmin(configuration: TestEnvironment.kafka, logger: TestEnvironment.quietLogger)
        try await admin.createTopics(logical.flatMap { [names($0), names($0) + DeadLetters.suffix] }, partitions: partitions)
        await admin.close()
    }

    public func delete() async {
        guard let admin = try? KafkaAdmin(configuration: TestEnvironment.kafka, logger: TestEnvironment.quietLogger) else { return }
        try? await admin.deleteTopics(logical.flatMap { [names($0), names($0) + DeadLetters.suffix] })
        await admin.close()
    }
}
