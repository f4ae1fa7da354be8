import Foundation
import Inventory
import KafkaClient
import Notification
import OrderSaga
import Payment
import PGClient
import SagaKit
import Synchronization
import Tracker
import TestSupport

/// The four real service binaries on scratch databases, topics and spool folder: what a test of the saga starts,
/// kills, restarts and inspects.
public final class SagaCluster: @unchecked Sendable {
    // @unchecked: `processes` is guarded by `lock`; everything else is immutable.
    public enum Service: String, CaseIterable, Sendable {
        case inventory, payment, notification, tracker

        public var binary: String { self == .tracker ? "saga-tracker" : "\(rawValue)-service" }
        public var urlVariable: String { "\(rawValue.uppercased())_DATABASE_URL" }
    }

    public let databases: [Service: ScratchDatabase]
    public let topics: ScratchTopics
    public let spool: URL
    private let lock = Mutex<[Service: ChildProcess]>([:])
    private let history = Mutex<[ChildProcess]>([])

    private init(databases: [Service: ScratchDatabase], topics: ScratchTopics, spool: URL) {
        self.databases = databases
        self.topics = topics
        self.spool = spool
    }

    /// Creates the scratch resources, migrates, runs `body`, and cleans up whatever happens.
    public static func with<T>(_ body: (SagaCluster) async throws -> T) async throws -> T {
        var databases: [Service: ScratchDatabase] = [:]
        for service in Service.allCases { databases[service] = try await ScratchDatabase.create(service.rawValue) }
        let topics = try await ScratchTopics.create(OrderSagaTopics.all)
        let spool = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-spool-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        let cluster = SagaCluster(databases: databases, topics: topics, spool: spool)
        do {
            for service in Service.allCases {
                try await ChildProcess.run(TestEnvironment.executable(service.binary), ["migrate"], environment: cluster.environment(for: service))
            }
            let result = try await body(cluster)
            await cluster.cleanup()
            return result
        } catch {
            for process in cluster.history.withLock({ $0 }) {
                print("--- \(process.label) (pid \(process.pid)) ---\n\(process.tail(40))")
            }
            await cluster.cleanup()
            throw error
        }
    }

    /// The participants' fault options, as the local stack sets them (infra/lib/services.sh): Payment declines the
    /// demo's ORD-2003 and every id with `-decline-` in it, Notification fails the confirmation of ORD-2002 and of
    /// every id with `-failconfirm-` (the bench's and `MixedLoad`'s failing scenarios). A test's `extra` replaces them.
    public static let faultOptions: [Service: [String: String]] = [
        .payment: ["PAYMENT_DECLINE_ORDERS": "ORD-2003,*-decline-*"],
        .notification: ["NOTIFICATION_FAIL_CONFIRMATIONS": "ORD-2002,*-failconfirm-*"],
    ]

    public func environment(for service: Service, extra: [String: String] = [:]) -> [String: String] {
        var environment: [String: String] = [
            service.urlVariable: databases[service]!.url,
            "SAGAKIT_TOPIC_PREFIX": topics.prefix,
            "SAGAKIT_SPOOL_DIR": spool.path,
            "SAGAKIT_LOG_LEVEL": "info",
        ]
        environment.merge(Self.faultOptions[service] ?? [:]) { $1 }
        environment.merge(extra) { $1 }
        return environment
    }

    // MARK: - Processes

    /// Starts a service's `run` and waits until its consumer has partitions.
    @discardableResult
    public func start(_ service: Service, arguments: [String] = [], environment extra: [String: String] = [:], waitUntilReady: Bool = true) async throws -> ChildProcess {
        let process = try ChildProcess.start(
            TestEnvironment.executable(service.binary), ["run", "--relay-poll-ms", "200"] + arguments,
            environment: environment(for: service, extra: extra), label: service.rawValue)
        lock.withLock { $0[service] = process }
        history.withLock { $0.append(process) }
        if waitUntilReady { try await process.waitForOutput("partitions assigned", timeout: .seconds(60)) }
        return process
    }

    public func startAll(environment extra: [String: String] = [:]) async throws {
        for service in Service.allCases { try await start(service, environment: extra, waitUntilReady: false) }
        for service in Service.allCases { try await process(service).waitForOutput("partitions assigned", timeout: .seconds(60)) }
    }

    public func process(_ service: Service) -> ChildProcess {
        lock.withLock { $0[service]! }
    }

    /// Every process this cluster started, live or dead.
    public var allProcesses: [ChildProcess] { history.withLock { $0 } }

    /// Runs a service command (`stock set`, `status --json`, ...) and returns its output.
    @discardableResult
    public func command(_ service: Service, _ arguments: [String]) async throws -> String {
        try await ChildProcess.run(TestEnvironment.executable(service.binary), arguments, environment: environment(for: service))
    }

    /// Runs a service command and returns its exit status and output, whatever the status.
    public func attempt(_ service: Service, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess.start(TestEnvironment.executable(service.binary), arguments, environment: environment(for: service))
        let exit = try await child.waitForExit(timeout: .seconds(120))
        return (exit.status, child.output)
    }

    /// Stops a service with SIGTERM and waits for it to exit.
    public func stop(_ service: Service) async throws {
        let process = process(service)
        process.terminate()
        _ = try await process.waitForExit(timeout: .seconds(30))
    }

    /// SIGTERM, and SIGKILL if it has not exited within ten seconds.
    public func stopOrKill(_ service: Service) async throws {
        let process = process(service)
        guard process.isRunning else { return }
        process.terminate()
        if (try? await process.waitForExit(timeout: .seconds(10))) == nil {
            process.kill9()
            _ = try await process.waitForExit()
        }
    }

    /// `saga-tracker list --json`: the projection as a reader sees it.
    public func listJSON() async throws -> String {
        try await command(.tracker, ["list", "--json", "--limit", "100000"]).split(separator: "\n").first { $0.hasPrefix("[") }.map(String.init) ?? ""
    }

    public func connect(_ service: Service) async throws -> PGConnection {
        try await databases[service]!.connect()
    }

    public func cleanup() async {
        for process in allProcesses { await process.stop() }
        await topics.delete()
        for database in databases.values { await database.drop() }
        try? FileManager.default.removeItem(at: spool)
    }

    // MARK: - Sagas

    /// `saga-tracker status --json`, decoded; nil when the tracker does not know the saga.
    public func status(_ sagaID: String) async throws -> StatusJSON? {
        let child = try ChildProcess.start(
            TestEnvironment.executable("saga-tracker"), ["status", sagaID, "--json"], environment: environment(for: .tracker))
        let exit = try await child.waitForExit()
        if exit.status == 1 { return nil }
        let output = child.output.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
        return try JSONDecoder().decode(StatusJSON.self, from: Data(output.utf8))
    }

    /// Starts sagas in-process through the tracker's intake (the same transaction and outbox as the CLI).
    public func startSagas(_ requests: [OrderRequest]) async throws {
        let db = try await connect(.tracker)
        for request in requests {
            _ = try await OrderIntake.start(request, topics: topics.names, on: db)
        }
        await db.close()
    }

    /// The tracker's projection rows: state per saga.
    public func projectedStates() async throws -> [String: String] {
        let db = try await connect(.tracker)
        let rows = try await db.query("SELECT saga_id, state FROM sagas")
        await db.close()
        var states: [String: String] = [:]
        for row in rows { states[try row.decode("saga_id")] = try row.decode("state") }
        return states
    }

    /// Waits until every saga in `ids` is in a terminal state in the tracker's projection.
    public func waitForTerminal(_ ids: [String], timeout: Duration = .seconds(120)) async throws -> [String: String] {
        let terminal: Set<String> = ["completed", "compensated", "failed", "compensation_failed"]
        return try await eventually("\(ids.count) sagas terminal", timeout: timeout, every: .milliseconds(500)) {
            let states = try await projectedStates()
            return ids.allSatisfy { states[$0].map(terminal.contains) == true } ? states : nil
        }
    }

    // MARK: - saga-check

    /// The read-only `sagakit_check` role's URL for this cluster's scratch database of `service`.
    public func checkURL(_ service: Service) -> String {
        SagaCheckRun.url(for: databases[service]!.name)
    }

    /// Runs `saga-check --json` over this cluster's databases and topics.
    public func check(_ arguments: [String] = []) async throws -> SagaCheckRun {
        try await SagaCheckRun.run(arguments, urls: Dictionary(uniqueKeysWithValues: Service.allCases.map { ($0, checkURL($0)) }),
                                   topicPrefix: topics.prefix)
    }

    public func emlFiles() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".eml") })
    }
}

/// `saga-tracker status --json`, as a reader sees it.
public struct StatusJSON: Decodable, Equatable {
    public var sagaId: String
    public var state: String
    public var completedSteps: [String]
    public var compensations: [String]
    public var error: String?
    public var timeline: [Entry]

    public struct Entry: Decodable, Equatable {
        public var name: String
        public var eventType: String
        public var service: String
        /// An operator's decision, such as a skipped compensation's `skipped by operator: <reason>`.
        public var note: String?
    }

    enum CodingKeys: String, CodingKey {
        case sagaId = "saga_id", state, completedSteps = "completed_steps", compensations, error, timeline
    }
}

extension StatusJSON.Entry {
    enum CodingKeys: String, CodingKey { case name, eventType = "event_type", service, note }
}

/// One run of the `saga-check` binary: exit status, output, and the JSON report's violations.
public struct SagaCheckRun {
    public var status: Int32
    public var output: String
    public var report: [String: Any]

    public var violations: [[String: Any]] { report["violations"] as? [[String: Any]] ?? [] }
    public var invariants: Set<String> { Set(violations.compactMap { $0["invariant"] as? String }) }
    public var clean: Bool { status == 0 && report["clean"] as? Bool == true }

    /// The check role's URL (from `infra/dev env`) pointed at another database.
    public static func url(for database: String) -> String {
        ScratchDatabase.replacingDatabase(in: TestEnvironment.value("SAGA_CHECK_TRACKER_DATABASE_URL") ?? "", with: database)
    }

    public static func run(_ arguments: [String], urls: [SagaCluster.Service: String], topicPrefix: String) async throws -> SagaCheckRun {
        var environment = ["SAGAKIT_TOPIC_PREFIX": topicPrefix]
        for (service, url) in urls { environment["SAGA_CHECK_\(service.rawValue.uppercased())_DATABASE_URL"] = url }
        let child = try ChildProcess.start(TestEnvironment.executable("saga-check"), ["--json"] + arguments, environment: environment)
        let exit = try await child.waitForExit(timeout: .seconds(120))
        let output = child.output
        let json = output.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? "{}"
        let report = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
        return SagaCheckRun(status: exit.signaled ? -1 : exit.status, output: output, report: report)
    }
}
