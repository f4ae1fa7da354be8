import Foundation

/// Where and how to connect: a libpq connection URI (`postgresql://user:pass@host:port/db?sslmode=verify-full`)
/// or a `key=value` connection string. Every libpq setting in it is honoured, TLS included.
public struct PGConfig: Sendable, CustomStringConvertible {
    public var connectionString: String
    /// Shown in `pg_stat_activity`.
    public var applicationName: String
    public var connectTimeoutSeconds: Int
    /// Server settings for the session (`synchronous_commit: off`), applied at every connect and reconnect.
    public var sessionSettings: [String: String] = [:]

    public init(_ connectionString: String, applicationName: String = "sagakit", connectTimeoutSeconds: Int = 5) {
        self.connectionString = connectionString
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// TCP settings a connection gets unless its string sets them (ignored over a Unix socket). Without them a
    /// server that vanished without a reset (a network partition, a host gone) holds a statement for the kernel's
    /// retransmission timeout, about 15 minutes, and an idle connection, such as a LISTEN, never notices: probes
    /// start after 30 s idle and give up after three unanswered ones; unacknowledged data gives up after 30 s.
    public static let networkDefaults: KeyValuePairs<String, String> = [
        "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3", "tcp_user_timeout": "30000",
    ]

    /// The connection string with any password replaced, fit for logs.
    public var redacted: String { Self.redact(connectionString) }

    public var description: String { redacted }

    public static func redact(_ text: String) -> String {
        if let components = URLComponents(string: text), components.scheme?.hasPrefix("postgres") == true {
            var copy = components
            if copy.password != nil { copy.password = "***" }
            if let items = copy.queryItems {
                // `password`, and `sslpassword` (the client key's passphrase).
                copy.queryItems = items.map { $0.name.lowercased().contains("password") ? URLQueryItem(name: $0.name, value: "***") : $0 }
            }
            return copy.string ?? "postgresql://***"
        }
        var text = text
        if text.hasPrefix("postgres") {
            // A URI that URLComponents cannot parse, such as libpq's multi-host form (`@h1:5432,h2:5433/db`):
            // mask whatever sits between the user name's colon and the `@`, and query values up to the next `&`.
            text = text.replacingOccurrences(of: #"^(postgres(?:ql)?://[^:@/?#]*:)[^@]*@"#, with: "$1***@", options: .regularExpression)
            return text.replacingOccurrences(of: #"(\w*password)=[^&#]*"#, with: "$1=***", options: [.regularExpression, .caseInsensitive])
        }
        // key=value: a value is single-quoted (backslash escapes inside) or runs to the next unescaped space.
        return text.replacingOccurrences(of: #"(\w*password)\s*=\s*('([^'\\]|\\.)*'|(\\.|[^\s\\])+)"#, with: "$1=***",
                                         options: [.regularExpression, .caseInsensitive])
    }
}
