import Foundation

/// How to reach the cluster, plus any librdkafka property (TLS, SASL, timeouts) for every client.
///
/// Properties are applied in layers: SagaKit's defaults, then `properties`, then the per-client-type properties.
/// A few are pinned after that because the delivery guarantees depend on them (see `KafkaProducer` and
/// `KafkaConsumer`). Every value is checked by librdkafka when a client is created, so a typo fails at start-up
/// with librdkafka's own message.
public struct KafkaConfiguration: Sendable {
    public var bootstrapServers: String
    /// Applied to producers, consumers and admin clients alike: security settings belong here.
    public var properties: [String: String]
    public var producerProperties: [String: String]
    public var consumerProperties: [String: String]

    public init(
        bootstrapServers: String,
        properties: [String: String] = [:],
        producerProperties: [String: String] = [:],
        consumerProperties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
        self.producerProperties = producerProperties
        self.consumerProperties = consumerProperties
    }

    /// Parses `key=value` pairs separated by `;` or newlines. Blank entries and `#` comment lines are skipped.
    public static func parseProperties(_ text: String) throws -> [String: String] {
        var result: [String: String] = [:]
        for rawEntry in text.split(whereSeparator: { $0 == ";" || $0 == "\n" }) {
            let entry = rawEntry.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw KafkaError(code: .configuration, message: "expected key=value, got '\(entry.prefix(64))'")
            }
            let key = entry[..<eq].trimmingCharacters(in: .whitespaces)
            let value = entry[entry.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            result[key] = value
        }
        return result
    }

    /// Property names whose values must never appear in logs or error messages.
    public static func isSecret(_ key: String) -> Bool {
        key.contains("password") || key.contains("secret") || key.hasSuffix(".key.pem") || key.contains("jaas")
            || key.contains("token")
    }
}
