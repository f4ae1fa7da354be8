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

    /// Parses `key=value` entries, one per line, and with `semicolons` also separated by `;` (as one environment
    /// variable carries them), where `\;` stands for a `;` inside a value. Blank entries and `#` comment lines are
    /// skipped. An error names the entry by its position, never its text: it may hold a secret.
    public static func parseProperties(_ text: String, semicolons: Bool = true) throws -> [String: String] {
        var result: [String: String] = [:]
        for (index, rawEntry) in entries(text, semicolons: semicolons).enumerated() {
            let entry = rawEntry.trimmingCharacters(in: .whitespaces)
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex else {
                throw KafkaError(code: .configuration, message: "entry \(index + 1) is not key=value")
            }
            let key = entry[..<eq].trimmingCharacters(in: .whitespaces)
            let value = entry[entry.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            result[key] = value
        }
        return result
    }

    private static func entries(_ text: String, semicolons: Bool) -> [String] {
        var entries: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                // Only `\;` is an escape; any other backslash stays as written (paths, patterns).
                if character != ";" { current.append("\\") }
                current.append(character)
                escaped = false
            } else if semicolons && character == "\\" {
                escaped = true
            } else if character == "\n" || character == "\r\n" || (semicolons && character == ";") {
                entries.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaped { current.append("\\") }
        entries.append(current)
        return entries
    }

    /// Property names whose values must never appear in logs or error messages.
    public static func isSecret(_ key: String) -> Bool {
        key.contains("password") || key.contains("secret") || key.hasSuffix(".key.pem") || key.contains("jaas")
            || key.contains("token")
    }
}
