import CLibPQ
import DedicatedExecutor
import Foundation
import Logging

/// One PostgreSQL connection, owned by an actor that runs on a thread of its own: libpq's calls block, and
/// they block only that thread.
///
/// A connection that breaks is re-established on the next call; the call that saw the break throws
/// `.connectionLost`. `withTransaction` adds retries on serialization failures and deadlocks, and, for bodies
/// safe to run twice, on connection loss.
public actor PGConnection {
    private let executor: ThreadExecutor
    private let handle = LibPQHandle()
    private var conn: OpaquePointer? {
        get { handle.conn }
        set { handle.conn = newValue }
    }
    /// Receives the server's notices (NOTICE, WARNING) for the logger instead of libpq's stderr default.
    private let notices: NoticeSink
    public nonisolated let config: PGConfig
    public let logger: Logger
    /// Counts every (re)connection; tests and metrics read it.
    public private(set) var connectCount = 0
    /// Set when a call failed for a reason libpq gave rather than the server: libpq does not always mark the
    /// connection bad at once (a write to a Unix socket whose server died fails with EPIPE while the status still
    /// reads OK), so the next call must not trust it.
    private var broken = false
    /// Round trips to the server so far (each statement outside a pipeline, each pipeline, each preparation);
    /// tests and benchmarks read it.
    public private(set) var roundTrips = 0

    /// Inside `withTransaction`: its BEGIN, not sent yet, goes with the body's first round trip; statements
    /// queued with `queue(_:)` go with the next one; `afterCommit` statements go with the COMMIT.
    private var transactionOpen = false
    private var pendingBegin: String?
    private var queued: [PGQuery] = []
    private var afterCommitQueue: [PGQuery] = []
    /// A queued statement refused before sending (a NUL in a parameter): every later round trip of the
    /// transaction, its COMMIT included, throws it, so the transaction cannot commit without that write.
    private var refusedQueued: PGError?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private init(config: PGConfig, logger: Logger) {
        self.config = config
        self.logger = logger
        notices = NoticeSink(logger: logger)
        executor = ThreadExecutor(name: "pg-\(config.applicationName)")
    }

    /// Connects on the connection's own thread.
    public static func connect(_ config: PGConfig, logger: Logger) async throws -> PGConnection {
        let connection = PGConnection(config: config, logger: logger)
        try await connection.open()
        return connection
    }

    /// Connects, runs `body` with the connection and closes it, whether `body` returns or throws: for the few
    /// statements of a command or a migration run.
    public static func withConnection<T>(_ config: PGConfig, logger: Logger, _ body: (PGConnection) async throws -> T) async throws -> T {
        let connection = try await connect(config, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    private func open() throws {
        if let conn { PQfinish(conn); self.conn = nil }
        prepared.removeAll()
        preparedSerial = 0
        let connection = try libpqConnect(config)
        PQsetNoticeReceiver(connection, noticeReceiver, Unmanaged.passUnretained(notices).toOpaque())
        conn = connection
        broken = false
        connectCount += 1
    }

    /// Reconnects when the previous connection broke.
    private func ensureConnected() throws -> OpaquePointer {
        if let conn, !broken, PQstatus(conn) == CONNECTION_OK { return conn }
        if conn != nil { logger.info("reconnecting to postgres") }
        try open()
        return conn!
    }

    public var isConnected: Bool {
        !broken && (conn.map { PQstatus($0) == CONNECTION_OK } ?? false)
    }

    public func close() {
        if let conn { PQfinish(conn) }
        conn = nil
        executor.shutdown()
    }

    deinit {
        // A connection dropped without close(): finish it on its own thread.
        let handle = self.handle
        // The notice receiver's context must outlive the PGconn, which now outlives this actor.
        let notices = self.notices
        executor.perform {
            withExtendedLifetime(notices) {
                if let conn = handle.conn { PQfinish(conn) }
                handle.conn = nil
            }
        }
        executor.shutdown()
    }

    // MARK: - Statements

    /// Runs one statement with its parameters (extended protocol, text format). Each distinct statement text is
    /// prepared once per connection and executed by name afterwards, so the server parses and plans it once.
    @discardableResult
    public func query(_ query: PGQuery) throws -> PGRows {
        try self.query(query, reprepare: true)
    }

    /// `reprepare`: whether a stale prepared statement may be prepared again (once: a second failure is thrown).
    private func query(_ query: PGQuery, reprepare: Bool) throws -> PGRows {
        try refuseNUL(query)
        if pendingBegin != nil || !queued.isEmpty || refusedQueued != nil {
            // The transaction's unsent BEGIN and queued statements travel with this one.
            return try flushPending([query])[0]
        }
        let conn = try ensureConnected()
        roundTrips += 1
        guard let name = try preparedName(query, conn: conn) else {
            let result = withParameterPointers(query.binds) { pointers in
                PQexecParams(conn, query.sql, Int32(query.binds.count), nil, pointers, nil, nil, 0)
            }
            return try consume(result, conn: conn, statement: query.sql)
        }
        let result = withParameterPointers(query.binds) { pointers in
            PQexecPrepared(conn, name, Int32(query.binds.count), pointers, nil, nil, 0)
        }
        do {
            return try consume(result, conn: conn, statement: query.sql)
        } catch let error as PGError where error.isStalePreparedStatement && reprepare && PQtransactionStatus(conn) == PQTRANS_IDLE {
            // The schema changed under a cached plan ("cached plan must not change result type"), or the
            // statement is gone: prepare it again once. Not inside a transaction: the error aborted it, and a retry
            // would only hide the error behind "current transaction is aborted".
            prepared[query.sql] = nil
            PQclear(PQexec(conn, "DEALLOCATE \(name)"))
            return try self.query(query, reprepare: false)
        }
    }

    /// Runs statements that do not depend on each other's results in one round trip (libpq's pipeline mode) and
    /// returns each one's rows. Outside a transaction they run as one implicit transaction; the first error is
    /// thrown, and a failure rolls back all of them.
    public func queries(_ queries: [PGQuery]) throws -> [PGRows] {
        if queries.count == 1 { return [try query(queries[0])] }
        guard !queries.isEmpty else { return [] }
        for query in queries { try refuseNUL(query) }
        return try flushPending(queries)
    }

    /// Statement names by SQL text, for this session; emptied on reconnection.
    private var prepared: [String: String] = [:]
    /// Names are never reused in a session: a statement dropped from the cache may still exist on the server.
    private var preparedSerial = 0
    private static let preparedLimit = 512

    private func preparedName(_ query: PGQuery, conn: OpaquePointer) throws -> String? {
        if let name = prepared[query.sql] { return name }
        // Inside a failed transaction nothing can be prepared; let the statement report the real error.
        guard prepared.count < Self.preparedLimit, PQtransactionStatus(conn) != PQTRANS_INERROR else { return nil }
        preparedSerial += 1
        let name = "sagakit_\(preparedSerial)"
        roundTrips += 1
        let result = PQprepare(conn, name, query.sql, Int32(query.binds.count), nil)
        _ = try consume(result, conn: conn, statement: query.sql)
        prepared[query.sql] = name
        return name
    }

    /// The libpq settings this connection was made with (`PQconninfo`; passwords included, so for tests only).
    func settingsInUse() throws -> [String: String] {
        let conn = try ensureConnected()
        guard let options = PQconninfo(conn) else { return [:] }
        defer { PQconninfoFree(options) }
        var settings: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { settings[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return settings
    }

    /// Runs SQL text that may hold several statements and no parameters (simple protocol): migrations, DDL.
    public func execute(_ sql: String) throws {
        if pendingBegin != nil || !queued.isEmpty { _ = try flushPending([]) }
        let conn = try ensureConnected()
        roundTrips += 1
        _ = try consume(PQexec(conn, sql), conn: conn, statement: "(script)")
    }

    // MARK: - Transactions

    /// Runs `body` between BEGIN and COMMIT on this connection's thread, rolling back when it throws.
    ///
    /// Serialization failures and deadlocks (40001, 40P01) are retried with exponential backoff and jitter. A lost
    /// connection is retried only with `retry.onConnectionLoss`: a COMMIT cut off mid-flight may or may not
    /// have happened, so only a body whose effects are idempotent (an inbox row, a unique key) may run again.
    ///
    /// With `deferBegin`, the BEGIN travels with the body's first statement instead of taking a round trip of its
    /// own; the body then starts before the server has been reached, so it must do nothing outside the
    /// database before its first statement.
    public func withTransaction<T: Sendable>(
        isolation: PGIsolation = .readCommitted,
        retry: PGRetryPolicy = .default,
        deferBegin: Bool = false,
        _ body: @Sendable (isolated PGConnection) throws -> T
    ) async throws -> T {
        try await retry.run(onRetry: { attempt, error, delay in
            logger.debug("transaction retry \(attempt) after \(error.code) \(error.sqlState ?? "") in \(delay)")
        }) {
            do {
                openTransaction(isolation.beginStatement)
                if !deferBegin {
                    pendingBegin = nil
                    try execute(isolation.beginStatement)
                }
                let value = try body(self)
                try commit()
                return value
            } catch {
                rollbackQuietly()
                throw error
            }
        }
    }

    /// Queues a statement whose result the caller does not read, inside `withTransaction`. It goes to the server
    /// with the transaction's next round trip (the next `query`, or the COMMIT) in libpq's pipeline mode, so a
    /// write nothing waits on costs no round trip of its own. An error it raises is thrown by that next call; the
    /// transaction fails either way.
    public func queue(_ query: PGQuery) {
        precondition(transactionOpen, "queue(_:) is for statements inside withTransaction")
        guard let refusal = nulRefusal(query) else { return queued.append(query) }
        refusedQueued = refusedQueued ?? refusal
    }

    /// Runs `query` just after the transaction commits: sent with the COMMIT, in the same round trip, as a
    /// transaction of its own. Only for hints whose loss costs nothing, such as a relay's wake-up: its failure is
    /// logged at debug level and not thrown; it is skipped when the transaction fails before its COMMIT, and may
    /// still run when the COMMIT itself fails.
    public func afterCommit(_ query: PGQuery) {
        precondition(transactionOpen, "afterCommit(_:) is for statements inside withTransaction")
        guard let refusal = nulRefusal(query) else { return afterCommitQueue.append(query) }
        logger.debug("after-commit statement dropped: \(refusal)")
    }

    private func openTransaction(_ begin: String) {
        transactionOpen = true
        pendingBegin = begin
        queued = []
        afterCommitQueue = []
        refusedQueued = nil
    }

    /// Sends what the transaction still holds back (BEGIN, queued statements), then the COMMIT, and the
    /// after-commit statements behind a Sync of their own: one round trip.
    private func commit() throws {
        defer {
            transactionOpen = false
            afterCommitQueue = []
        }
        if let refusedQueued { throw refusedQueued }
        var work: [PipelineStep] = []
        if pendingBegin == nil || !queued.isEmpty {
            // Nothing at all was sent when the BEGIN is still pending with nothing queued: nothing to commit.
            if let begin = pendingBegin { work.append(.control(begin)) }
            work += queued.map(PipelineStep.statement)
            work.append(.control("COMMIT"))
        }
        pendingBegin = nil
        queued = []
        let hints = afterCommitQueue.map(PipelineStep.unprepared)
        if work.isEmpty && hints.isEmpty { return }
        if hints.isEmpty, work.count == 1 {
            try execute("COMMIT")
            return
        }
        let results = try exchange([work, hints].filter { !$0.isEmpty })
        if !work.isEmpty { try Self.firstFailure(results[0]).map { throw $0 } }
        if !hints.isEmpty, let failure = Self.firstFailure(results[results.count - 1]) {
            logger.debug("after-commit statement failed: \(failure)")
        }
    }

    /// Sends the transaction's unsent BEGIN and queued statements, then `statements`, in one round trip; throws
    /// the first failure, else returns the rows of `statements` only.
    private func flushPending(_ statements: [PGQuery]) throws -> [PGRows] {
        if let refusedQueued { throw refusedQueued }
        var steps: [PipelineStep] = []
        if let begin = pendingBegin { steps.append(.control(begin)) }
        steps += queued.map(PipelineStep.statement)
        let held = steps.count
        steps += statements.map(PipelineStep.statement)
        pendingBegin = nil
        queued = []
        let results = try exchange([steps])[0]
        if let failure = Self.firstFailure(results) { throw failure }
        return results[held...].map { result in
            guard case .success(let rows) = result else { preconditionFailure("a failure was thrown above") }
            return rows
        }
    }

    private static func firstFailure(_ results: [Result<PGRows, PGError>]) -> PGError? {
        for result in results { if case .failure(let error) = result { return error } }
        return nil
    }

    /// Whether a transaction is open on this connection (for assertions).
    public var inTransaction: Bool {
        if transactionOpen { return true }
        guard let conn else { return false }
        let status = PQtransactionStatus(conn)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    private func rollbackQuietly() {
        transactionOpen = false
        pendingBegin = nil
        queued = []
        afterCommitQueue = []
        guard let conn, !broken, PQstatus(conn) == CONNECTION_OK, PQtransactionStatus(conn) != PQTRANS_IDLE else { return }
        PQclear(PQexec(conn, "ROLLBACK"))
    }

    // MARK: - Pipelines

    enum PipelineStep {
        case statement(PGQuery)
        /// Sent without preparing it first: a preparation runs at once, so a failing one inside an open
        /// transaction would abort it, and after-commit statements must not touch the transaction.
        case unprepared(PGQuery)
        /// Transaction control.
        case control(String)
    }

    /// Sends the segments' statements in one round trip (libpq's pipeline mode), each segment closed by a Sync,
    /// and returns every statement's outcome. A failure skips the rest of its segment, not the next segments.
    /// Throws only when the connection fails.
    private func exchange(_ segments: [[PipelineStep]]) throws -> [[Result<PGRows, PGError>]] {
        let conn = try ensureConnected()
        // Statements are prepared first: a synchronous Parse cannot run inside a pipeline (and after the first
        // use of a statement text there is nothing to prepare).
        var names: [[String?]] = []
        for segment in segments {
            names.append(try segment.map { step in
                if case .statement(let query) = step { return try preparedName(query, conn: conn) }
                return nil
            })
        }
        guard PQenterPipelineMode(conn) == 1 else { throw lost(conn) }
        roundTrips += 1
        for (segment, segmentNames) in zip(segments, names) {
            for (step, name) in zip(segment, segmentNames) {
                let sent: Int32
                switch step {
                case .control(let sql):
                    sent = PQsendQueryParams(conn, sql, 0, nil, nil, nil, nil, 0)
                case .statement(let query), .unprepared(let query):
                    sent = withParameterPointers(query.binds) { pointers in
                        if let name {
                            PQsendQueryPrepared(conn, name, Int32(query.binds.count), pointers, nil, nil, 0)
                        } else {
                            PQsendQueryParams(conn, query.sql, Int32(query.binds.count), nil, pointers, nil, nil, 0)
                        }
                    }
                }
                guard sent == 1 else { throw lost(conn) }
            }
            guard PQpipelineSync(conn) == 1 else { throw lost(conn) }
        }
        var outcomes: [[Result<PGRows, PGError>]] = []
        for segment in segments {
            var segmentOutcomes: [Result<PGRows, PGError>] = []
            for step in segment {
                guard let result = PQgetResult(conn) else { throw lost(conn) }
                if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    segmentOutcomes.append(.failure(PGError(code: .server, message: "not run: an earlier statement of its pipeline failed")))
                } else {
                    let sql: String
                    switch step {
                    case .control(let text): sql = text
                    case .statement(let query), .unprepared(let query): sql = query.sql
                    }
                    do {
                        segmentOutcomes.append(.success(try consume(result, conn: conn, statement: sql)))
                    } catch let error as PGError {
                        if error.code == .connectionLost { throw error }
                        if error.isStalePreparedStatement { prepared[sql] = nil }
                        segmentOutcomes.append(.failure(error))
                    }
                }
                // A statement's results end with a null result.
                while let extra = PQgetResult(conn) {
                    PQclear(extra)
                    guard PQstatus(conn) == CONNECTION_OK else { throw lost(conn) }
                }
            }
            guard let sync = PQgetResult(conn) else { throw lost(conn) }
            let status = PQresultStatus(sync)
            PQclear(sync)
            guard status == PGRES_PIPELINE_SYNC else { throw lost(conn) }
            outcomes.append(segmentOutcomes)
        }
        guard PQexitPipelineMode(conn) == 1 else { throw lost(conn) }
        return outcomes
    }

    /// The connection cannot be trusted after a failure in the middle of a pipeline: the next call reconnects.
    private func lost(_ conn: OpaquePointer) -> PGError {
        broken = true
        return PGError(code: .connectionLost, message: Self.errorMessage(conn))
    }

    // MARK: - libpq plumbing

    private func consume(_ result: OpaquePointer?, conn: OpaquePointer, statement: String) throws -> PGRows {
        guard let result else {
            throw connectionOrServerError(conn, nil)
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PGRows(columns: [], values: [], affectedRows: Self.affectedRows(result))
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for c in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(c)))) }
            var values: [String?] = []
            values.reserveCapacity(rowCount * columnCount)
            for r in 0..<Int32(rowCount) {
                for c in 0..<Int32(columnCount) {
                    if PQgetisnull(result, r, c) != 0 {
                        values.append(nil)
                    } else {
                        let length = Int(PQgetlength(result, r, c))
                        let pointer = UnsafeRawPointer(PQgetvalue(result, r, c)!)
                        values.append(String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self))
                    }
                }
            }
            return PGRows(columns: columns, values: values, affectedRows: rowCount)
        default:
            throw connectionOrServerError(conn, result)
        }
    }

    private func connectionOrServerError(_ conn: OpaquePointer, _ result: OpaquePointer?) -> PGError {
        guard PQstatus(conn) == CONNECTION_OK, let result else {
            broken = true
            return PGError(code: .connectionLost, message: Self.errorMessage(conn))
        }
        func field(_ code: Int32) -> String? {
            PQresultErrorField(result, code).map { String(cString: $0) }
        }
        let message = field(Int32(UInt8(ascii: "M"))) ?? Self.errorMessage(conn)
        // Every error the server sends has a SQLSTATE; one without was made by libpq itself ("server closed the
        // connection unexpectedly", "could not send data", a protocol it could not follow). Whatever it was, this
        // session can no longer be trusted: start a new one.
        guard let sqlState = field(Int32(UInt8(ascii: "C"))) else {
            broken = true
            return PGError(code: .connectionLost, message: message)
        }
        let error = PGError(code: .server, message: message, sqlState: sqlState, detail: field(Int32(UInt8(ascii: "D"))))
        if error.isConnectionError { broken = true }
        return error
    }

    private static func errorMessage(_ conn: OpaquePointer) -> String {
        libpqErrorMessage(conn)
    }

    private static func affectedRows(_ result: OpaquePointer) -> Int {
        Int(String(cString: PQcmdTuples(result))) ?? 0
    }
}

/// Transaction isolation levels.
public enum PGIsolation: Sendable {
    case readCommitted, repeatableRead, serializable

    var beginStatement: String {
        switch self {
        case .readCommitted: "BEGIN"
        case .repeatableRead: "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case .serializable: "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

/// How PGClient's callers retry: `withTransaction`, and single autocommitted statements through `run`.
public struct PGRetryPolicy: Sendable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    /// Retry after a lost connection too: only for bodies that are safe to apply twice.
    public var onConnectionLoss: Bool

    public init(maxAttempts: Int = 8, initialDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(1), onConnectionLoss: Bool = false) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.onConnectionLoss = onConnectionLoss
    }

    public static let `default` = PGRetryPolicy()
    public static let none = PGRetryPolicy(maxAttempts: 1)

    /// `Backoff` from `initialDelay` to `maxDelay`: a random time between half and all of
    /// `min(initialDelay × 2^(n-1), maxDelay)`.
    public func delay(afterAttempt attempt: Int) -> Duration {
        Backoff(initial: initialDelay, maximum: maxDelay).delay(attempt: attempt)
    }

    /// Whether this policy runs the work again after `error`: always after a serialization failure or a
    /// deadlock, after a lost connection only with `onConnectionLoss`.
    public func retries(_ error: PGError) -> Bool {
        error.isSerializationFailure || (onConnectionLoss && error.isConnectionError)
    }

    /// Runs `body` until it returns, throws an error this policy does not retry, or has had `maxAttempts`
    /// attempts, sleeping `delay(afterAttempt:)` between them. The one retry loop behind `withTransaction` and
    /// single-statement work (an autocommitted statement is its own transaction). `isolation` is the actor the loop
    /// runs on (the caller's), not a transaction's isolation level: a closure written at the call site runs there
    /// too, so `withTransaction`'s body touches its connection without a hop. `body` undoes its own partial work
    /// before it throws.
    public func run<T>(
        isolation: isolated (any Actor)? = #isolation,
        onRetry: (_ attempt: Int, _ error: PGError, _ delay: Duration) -> Void = { _, _, _ in },
        _ body: () async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch let error as PGError where retries(error) && attempt < maxAttempts {
                let delay = delay(afterAttempt: attempt)
                onRetry(attempt, error, delay)
                try await Task.sleep(for: delay)
            }
        }
    }
}

/// The `PGconn` pointer. @unchecked Sendable: it is only touched on the owning actor's thread — by its isolated
/// methods, and by the cleanup its `deinit` schedules there after the last of them.
final class LibPQHandle: @unchecked Sendable {
    var conn: OpaquePointer?
}

/// Where a connection's server notices go. The connection's actor holds it, and its deinit hands it to the closure
/// that finishes the `PGconn` on the connection's thread, so it outlives the handle.
final class NoticeSink: Sendable {
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }
}

/// Runs inside libpq calls, on the connection's thread. Notices such as "relation already exists, skipping"
/// are routine, so they go to the debug level.
private let noticeReceiver: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> Void = { context, result in
    guard let context, let result else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
    sink.logger.debug("postgres: \(message)")
}

/// Opens a blocking libpq connection; call it from a thread of one's own.
func libpqConnect(_ config: PGConfig) throws -> OpaquePointer {
    // libpq's message for a string it cannot parse quotes the offending part, which can be the password
    // (`invalid percent-encoded token: "pa%zz"`): checked first, and refused without that text.
    // libpq expands the string only when it holds a `=` or starts with a URI scheme; anything else is a bare
    // database name (host and the rest from PG* variables), passed on as it is.
    var userOptions = ""
    let text = config.connectionString
    if text.contains("=") || text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
        var parseError: UnsafeMutablePointer<CChar>? = nil
        guard let parsed = PQconninfoParse(text, &parseError) else {
            if let parseError { PQfreemem(parseError) }
            // Nor is the string shown: where it does not parse, what redaction takes for the password may not be all of it.
            throw PGError(code: .connectionFailed, message: "cannot connect: the connection string (application \(config.applicationName)) is malformed")
        }
        var option = parsed
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "options", let value = option.pointee.val { userOptions = String(cString: value) }
            option += 1
        }
        PQconninfoFree(parsed)
    }
    let parameters = libpqParameters(config, userOptions: userOptions)
    let keywords = parameters.map(\.keyword)
    let values = parameters.map(\.value)
    let connection = withCStringArray(keywords) { k in
        withCStringArray(values) { v in PQconnectdbParams(k, v, 1) }
    }
    guard let connection else {
        throw PGError(code: .connectionFailed, message: "out of memory")
    }
    guard PQstatus(connection) == CONNECTION_OK else {
        let message = libpqErrorMessage(connection)
        PQfinish(connection)
        throw PGError(code: .connectionFailed, message: "cannot connect to \(config.redacted): \(message)")
    }
    return connection
}

/// `PQconnectdbParams`' keywords and values, in order: with `expand_dbname`, a setting in the connection string
/// (`dbname`) replaces one listed before it, and one listed after replaces the string's. So ours come first and the
/// string's own win, except `options`: the string's would replace ours whole (the session's UTC, a relay's
/// synchronous_commit), so both go last, ours after theirs to win a clash.
func libpqParameters(_ config: PGConfig, userOptions: String) -> [(keyword: String, value: String)] {
    let settings = config.sessionSettings.sorted { $0.key < $1.key }.map { " -c \($0.key)=\($0.value)" }.joined()
    let ours = "-c TimeZone=UTC -c DateStyle=ISO" + settings
    var parameters: [(keyword: String, value: String)] = [("application_name", config.applicationName), ("connect_timeout", String(config.connectTimeoutSeconds))]
    parameters += PGConfig.networkDefaults.map { ($0.key, $0.value) }
    parameters += [("options", ours), ("dbname", config.connectionString)]
    if !userOptions.trimmingCharacters(in: .whitespaces).isEmpty {
        parameters.append(("options", userOptions + " " + ours))
    }
    return parameters
}

func libpqErrorMessage(_ conn: OpaquePointer) -> String {
    String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
}

private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var storage: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    storage.append(nil)
    defer { for pointer in storage { free(pointer) } }
    return storage.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { body($0) }
    }
}

/// libpq takes text parameters as C strings, so a NUL would cut a value short without a word (an id `A\0B` would
/// act on `A`): refused before anything is sent. PostgreSQL's text types cannot hold a NUL anyway.
private func refuseNUL(_ query: PGQuery) throws(PGError) {
    if let refusal = nulRefusal(query) { throw refusal }
}

private func nulRefusal(_ query: PGQuery) -> PGError? {
    for case var bind? in query.binds where bind.withUTF8({ bytes in bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false }) {
        return PGError(code: .usage, message: "a parameter holds a NUL character, which PostgreSQL text cannot store")
    }
    return nil
}

/// Lays the parameters out in one buffer, NUL-terminated, and passes pointers into it that live for the call.
private func withParameterPointers<R>(_ binds: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    if binds.isEmpty { return body(nil) }
    // One buffer of NUL-terminated values; batch statements pass arrays of thousands of elements as one value.
    var bytes: [UInt8] = []
    bytes.reserveCapacity(binds.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
    var offsets: [Int?] = []
    offsets.reserveCapacity(binds.count)
    for bind in binds {
        guard var bind else { offsets.append(nil); continue }
        offsets.append(bytes.count)
        bind.withUTF8 { bytes.append(contentsOf: $0) }
        bytes.append(0)
    }
    return bytes.withUnsafeBufferPointer { raw in
        raw.withMemoryRebound(to: CChar.self) { buffer in
            let pointers: [UnsafePointer<CChar>?] = offsets.map { $0.map { buffer.baseAddress! + $0 } }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
