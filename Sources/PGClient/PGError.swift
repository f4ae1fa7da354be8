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

    /// A SQLSTATE the code checks for, by its name in PostgreSQL's errcodes table (Appendix A).
    public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The five characters: two for the class, three for the condition.
        public let rawValue: String

        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// 08000: the class of connection exceptions (every `08xxx` code).
        public static let connectionException = SQLState(rawValue: "08000")
        /// 0A000, also "cached plan must not change result type" after a schema change under a prepared statement.
        public static let featureNotSupported = SQLState(rawValue: "0A000")
        /// 23505: a unique constraint refused the row.
        public static let uniqueViolation = SQLState(rawValue: "23505")
        /// 26000: the prepared statement does not exist (any more).
        public static let invalidSQLStatementName = SQLState(rawValue: "26000")
        /// 42P01: no such table (or view).
        public static let undefinedTable = SQLState(rawValue: "42P01")
        /// 40001
        public static let serializationFailure = SQLState(rawValue: "40001")
        /// 40P01
        public static let deadlockDetected = SQLState(rawValue: "40P01")
        /// 57P01: the server is shutting down (fast or smart shutdown, or `pg_terminate_backend`).
        public static let adminShutdown = SQLState(rawValue: "57P01")
        /// 57P02: the server is resetting after another backend crashed.
        public static let crashShutdown = SQLState(rawValue: "57P02")
        /// 57P03: the server is starting up or in recovery.
        public static let cannotConnectNow = SQLState(rawValue: "57P03")

        /// The first two characters, shared by every condition of the class.
        public var errorClass: Substring { rawValue.prefix(2) }

        public var description: String { rawValue }
    }

    /// Whether the server's SQLSTATE is one of these.
    public func hasSQLState(_ states: SQLState...) -> Bool {
        guard let sqlState else { return false }
        return states.contains { $0.rawValue == sqlState }
    }

    /// Serialization failure or deadlock: the transaction can simply be run again.
    public var isSerializationFailure: Bool { hasSQLState(.serializationFailure, .deadlockDetected) }
    /// A unique constraint refused the row.
    public var isUniqueViolation: Bool { hasSQLState(.uniqueViolation) }
    /// A cached prepared statement is no longer usable (its plan's result type changed, or it is gone): prepare
    /// it again.
    public var isStalePreparedStatement: Bool { hasSQLState(.featureNotSupported, .invalidSQLStatementName) }
    /// The connection is gone (or never came); reconnecting may help.
    public var isConnectionError: Bool {
        code == .connectionLost || code == .connectionFailed
            || hasSQLState(.adminShutdown, .crashShutdown, .cannotConnectNow)
            || (sqlState?.hasPrefix(SQLState.connectionException.errorClass) ?? false)
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
