import Foundation

/// Reads and writes topics with kcat, a client independent of the project's own Kafka layer, so a test's
/// verdict does not rest on the code under test.
public enum KafkaOracle {
    public struct Message: Sendable, Decodable {
        public let partition: Int32
        public let offset: Int64
        public let key: String?
        public let payload: String?
        public let headers: [String]?

        /// Header values by name (the last one wins).
        public var headerMap: [String: String] {
            guard let headers else { return [:] }
            var map: [String: String] = [:]
            var index = 0
            while index + 1 < headers.count {
                map[headers[index]] = headers[index + 1]
                index += 2
            }
            return map
        }
    }

    static let kcat = URL(fileURLWithPath: "/usr/bin/kcat")

    /// Every message currently in the topic, all partitions, in partition then offset order.
    public static func readAll(_ topic: String) async throws -> [Message] {
        let output = try await ChildProcess.run(kcat, ["-C", "-b", TestEnvironment.bootstrapServers, "-t", topic, "-e", "-J", "-q", "-o", "beginning"])
        let decoder = JSONDecoder()
        return try output.split(separator: "\n").compactMap { line -> Message? in
            guard line.hasPrefix("{") else { return nil }
            return try decoder.decode(Message.self, from: Data(line.utf8))
        }.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
    }

    /// Waits until the topic holds at least `count` messages and returns them.
    public static func waitForMessages(_ topic: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [Message] {
        var seen: [Message] = []
        do {
            return try await eventually("\(count) messages on \(topic)", timeout: timeout, every: .milliseconds(250)) {
                seen = try await readAll(topic)
                return seen.count >= count ? seen : nil
            }
        } catch let error as TimedOut {
            // What the last read found, for a failure's diagnosis: where each message was.
            let found = seen.map { "\($0.partition):\($0.offset)" }.joined(separator: ", ")
            throw TimedOut(description: "\(error.description); the last read found \(seen.count) [\(found)]")
        }
    }

    /// Produces one message with the given raw value (one line of text); `properties` are librdkafka's
    /// (`message.max.bytes` for a message larger than its default).
    public static func produce(
        _ topic: String, key: String?, value: String, headers: [String: String] = [:], properties: [String: String] = [:]
    ) async throws {
        var arguments = ["-P", "-b", TestEnvironment.bootstrapServers, "-t", topic]
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) { arguments += ["-X", "\(name)=\(value)"] }
        if let key { arguments += ["-k", key] }
        for (name, value) in headers { arguments += ["-H", "\(name)=\(value)"] }
        try await ChildProcess.run(kcat, arguments, stdin: Data(value.utf8))
    }
}
