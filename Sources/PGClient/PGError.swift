/// An error from the Postgres layer.
///
/// `description` never includes bind values or the server's DETAIL field (which can quote row data); use
/// `debugDescription` where that is acceptable.
public struct PGError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case connectionFailed, connectionLost, server, decoding, unexpectedNull, missingColumn, usage, migration
        }
        fileprivate let base: Base

        /// Could not connect (bad address, credentials, database, or the server is down).
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connection broke during an operation. Whether an in-flight COMMIT took effect is unknown.
        public static let connectionLost = Code(base: .connectionLost)
        /// The server rejected a statement; see `sqlState`.
        public static let server = Code(base: .server)
        /// A column's text could not be read as the requested type.
        public static let decoding = Code(base: .decoding)
        /// A NULL was read into a non-optional type.
        public static let unexpectedNull = Code(base: .unexpectedNull)
        public static let missingColumn = Code(base: .missingColumn)
        /// The API was misused (a closed connection, say).
        public static let usage = Code(base: .usage)
        public static let migration = Code(base: .migration)

        public var description: String { String(describing: base) }
    }

    public let code: Code
    public let message: String
    /// The five-character SQLSTATE for server errors.
    public let sqlState: String?
    public let detail: String?

    public init(code: Code, message: String, sqlState: String? = nil, detail: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
    }

    /// 40001 (serialization failure) or 40P01 (deadlock): the transaction can simply be run again.
    public var isSerializationFailure: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// 23505: a unique constraint refused the row.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// The connection is gone (or never came); reconnecting may help.
    public var isConnectionError: Bool {
        code == .connectionLost || code == .connectionFailed
            // admin shutdown, crash shutdown, cannot connect now
            || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
            || (sqlState?.hasPrefix("08") ?? false)
    }

    public var description: String {
        var text = "Postgres error (\(code)"
        if let sqlState { text += " \(sqlState)" }
        return text + "): \(message)"
    }

    public var debugDescription: String {
        description + (detail.map { " — \($0)" } ?? "")
    }
}
