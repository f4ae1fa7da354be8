import Foundation
import OrderSaga
import PGClient
import SagaKit
import Synchronization
import Tracker

/// Which scenario a benchmark saga follows, and how often.
struct ScenarioMix: Sendable, CustomStringConvertible {
    enum Scenario: String, CaseIterable, Sendable {
        case happy, confirmation, payment, stock

        /// What a failing scenario's order ids contain, for the services' fault options to match: the bench cannot
        /// make a participant fail, the services started with `PAYMENT_DECLINE_ORDERS='*-decline-*'` and
        /// `NOTIFICATION_FAIL_CONFIRMATIONS='*-failconfirm-*'` do (`infra/dev bench` starts them so).
        var idMarker: String? {
            switch self {
            case .payment: Self.declineMarker
            case .confirmation: Self.failConfirmationMarker
            case .happy, .stock: nil
            }
        }

        static let declineMarker = "decline"
        static let failConfirmationMarker = "failconfirm"
    }

    let weights: [(Scenario, Int)]

    static let happyOnly = ScenarioMix(weights: [(.happy, 1)])
    static let even = ScenarioMix(weights: Scenario.allCases.map { ($0, 1) })

    /// `happy`, `all` (a quarter each), or `happy=70,confirmation=10,payment=10,stock=10`.
    init?(parsing text: String) {
        switch text {
        case "happy": self = .happyOnly
        case "all": self = .even
        default:
            var weights: [(Scenario, Int)] = []
            for part in text.split(separator: ",") {
                let pair = part.split(separator: "=").map(String.init)
                guard pair.count == 2, let scenario = Scenario(rawValue: pair[0]), let weight = Int(pair[1]), weight >= 0 else { return nil }
                weights.append((scenario, weight))
            }
            guard weights.contains(where: { $0.1 > 0 }) else { return nil }
            self.weights = weights
        }
    }

    private init(weights: [(Scenario, Int)]) {
        self.weights = weights
    }

    /// Deterministic for an index, so a run's mix is exact rather than random.
    func scenario(for index: Int) -> Scenario {
        let total = weights.reduce(0) { $0 + $1.1 }
        var slot = index % total
        for (scenario, weight) in weights {
            if slot < weight { return scenario }
            slot -= weight
        }
        return .happy
    }

    var description: String { weights.map { "\($0.0.rawValue)=\($0.1)" }.joined(separator: ",") }
}

/// Starts sagas through the tracker's intake: the same statement and outbox as `saga-tracker start`, several starts
/// per transaction when they arrive together (`BatchingIntake`).
final class LoadGenerator: Sendable {
    let runID: String
    let skus: [String]
    let mix: ScenarioMix
    let topics: TopicNames
    private let started = Mutex<Int>(0)
    private let failures = Mutex<[String]>([])

    init(runID: String, skus: [String], mix: ScenarioMix, topics: TopicNames) {
        precondition(!skus.isEmpty, "orders need a product")
        self.runID = runID
        self.skus = skus
        self.mix = mix
        self.topics = topics
    }

    var startedCount: Int { started.withLock { $0 } }
    var failureMessages: [String] { failures.withLock { $0 } }

    /// `<run>-<index>`, or `<run>-decline-<index>` and `<run>-failconfirm-<index>` for the scenarios a
    /// service's fault option makes fail (see `Scenario.idMarker`).
    func orderID(_ index: Int) -> String {
        mix.scenario(for: index).idMarker.map { "\(runID)-\($0)-\(index)" } ?? "\(runID)-\(index)"
    }

    /// One product keeps its historical name, so single-SKU runs compare with earlier ones.
    static func skuNames(count: Int) -> [String] {
        count == 1 ? ["bench-widget"] : (1...count).map { "bench-widget-\($0)" }
    }

    func request(_ index: Int) -> OrderRequest {
        let scenario = mix.scenario(for: index)
        return OrderRequest(
            orderID: orderID(index), sku: skus[index % skus.count], quantity: scenario == .stock ? 1_000_000_000 : 1,
            amount: Money(cents: 1999), email: "bench-\(index)@example.com")
    }

    /// Whether the saga started.
    @discardableResult
    func start(_ index: Int, via intake: BatchingIntake) async -> Bool {
        do {
            _ = try await intake.start(request(index))
            started.withLock { $0 += 1 }
            return true
        } catch {
            failures.withLock { if $0.count < 10 { $0.append("\(orderID(index)): \(error)") } }
            return false
        }
    }

    /// Open loop: saga i is handed to the intake at `begin + i / rate`, whatever the system does, for `duration`;
    /// starts the intake has not committed yet queue in it. Returns the longest time from a successful start's due
    /// time to the intake's response (its commit, then the relay's wake-up), which grows when the intake cannot
    /// keep up.
    func openLoop(rate: Double, duration: Duration, intake: BatchingIntake) async -> Duration {
        let begin = ContinuousClock.now
        let total = Int(rate * duration.seconds)
        let lag = Shared<Duration>(.zero)
        await withDiscardingTaskGroup { group in
            for index in 0..<total {
                let due = begin + .nanoseconds(Int64(Double(index) / rate * 1e9))
                if due > ContinuousClock.now {
                    try? await Task.sleep(until: due, clock: .continuous)
                }
                group.addTask {
                    guard await self.start(index, via: intake) else { return }
                    let waited = ContinuousClock.now - due
                    lag.update { $0 = max($0, waited) }
                }
            }
        }
        return lag.value
    }

    /// Closed loop: `concurrency` customers, each starting a saga and waiting for it to finish, for `duration`.
    func closedLoop(concurrency: Int, duration: Duration, intake: BatchingIntake, watcher: CompletionWatcher) async {
        let end = ContinuousClock.now + duration
        let next = Shared(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while ContinuousClock.now < end {
                        let index = next.update { value in
                            defer { value += 1 }
                            return value
                        }
                        await self.start(index, via: intake)
                        await watcher.waitForTerminal(self.orderID(index))
                    }
                }
            }
        }
    }
}

/// Tells waiting customers when their saga reached a terminal state in the tracker's projection, with one query
/// for all of them every few milliseconds.
actor CompletionWatcher {
    private let db: PGConnection
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var polling: Task<Void, Never>?

    init(db: PGConnection) {
        self.db = db
    }

    func waitForTerminal(_ sagaID: String) async {
        await withCheckedContinuation { continuation in
            waiting[sagaID, default: []].append(continuation)
            if polling == nil {
                polling = Task { await self.poll() }
            }
        }
    }

    private func poll() async {
        while !waiting.isEmpty {
            try? await Task.sleep(for: .milliseconds(2))
            let ids = Array(waiting.keys)
            guard let rows = try? await db.query(
                "SELECT saga_id FROM sagas WHERE saga_id = ANY(\(ids)::text[]) AND finished_at IS NOT NULL") else { continue }
            for row in rows {
                guard let id: String = try? row.decode("saga_id"), let continuations = waiting.removeValue(forKey: id) else { continue }
                for continuation in continuations { continuation.resume() }
            }
        }
        polling = nil
    }
}


/// A value shared by concurrent tasks.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    init(_ value: Value) {
        storage = Mutex(value)
    }

    var value: Value { storage.withLock { $0 } }

    @discardableResult
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R {
        storage.withLock { body(&$0) }
    }
}
