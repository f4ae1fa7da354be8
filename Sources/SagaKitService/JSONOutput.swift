import Foundation
import SagaKit

/// JSON for command output: sorted keys, RFC 3339 dates, snake_case.
public enum JSONOutput {
    public static func string<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
