import Foundation
import Synchronization

/// Named places where a test can have the process killed with SIGKILL (no cleanup, no `defer`), to prove that
/// the guarantees hold whatever instant a process dies.
///
/// Enabled only through the environment:
///
///     SAGAKIT_CRASH_POINTS="relay.after_ack_before_mark:0.5,consumer.before_db_commit:@3"
///     SAGAKIT_CRASH_SEED=42
///
/// `name:p` kills at each hit with probability p (seeded, so a run repeats); `name:@n` kills at the n-th hit.
/// When the variable is unset, `hit` is a load and a branch.
public enum CrashPoint: String, CaseIterable, Sendable {
    /// The relay read unpublished rows and has not produced them yet.
    case relayAfterFetchBeforePublish = "relay.after_fetch_before_publish"
    /// The broker acknowledged the batch; the rows are not marked published yet.
    case relayAfterAckBeforeMark = "relay.after_ack_before_mark"
    /// Rows marked inside the transaction, not committed.
    case relayAfterMarkBeforeCommit = "relay.after_mark_before_commit"
    /// A consumer holds a polled batch and has not started its transaction.
    case consumerAfterPollBeforeTransaction = "consumer.after_poll_before_tx"
    /// Effects, inbox rows and emitted events written, not committed.
    case consumerBeforeCommit = "consumer.before_db_commit"
    /// The transaction committed; the Kafka offset is not stored yet.
    case consumerAfterCommitBeforeOffset = "consumer.after_db_commit_before_offset"
    /// Offsets stored and handed to the commit path.
    case consumerAfterOffsetStore = "consumer.after_offset_store"
    /// A saga's start committed; the caller has not been answered.
    case startAfterCommitBeforeResponse = "start.after_commit_before_response"

    public static let environmentVariable = "SAGAKIT_CRASH_POINTS"
    public static let seedVariable = "SAGAKIT_CRASH_SEED"

    /// Kills the process here if the environment says so.
    @inline(__always)
    public func hit() {
        guard let plan = CrashPlan.active else { return }
        plan.hit(self)
    }

    /// Fails start-up on a misspelt crash-point setting rather than silently never crashing, or crashing on an
    /// unrepeatable schedule. The error names the variable.
    public static func validateEnvironment() throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            _ = try CrashPlan.parse(environment[environmentVariable] ?? "", seed: 0)
        } catch {
            throw CrashPlan.ParseError(description: "\(environmentVariable): \(error)")
        }
        if let seed = environment[seedVariable], !seed.isEmpty, UInt64(seed) == nil {
            throw CrashPlan.ParseError(description: "\(seedVariable) must be a whole number from 0 to \(UInt64.max)")
        }
    }
}

/// The parsed `SAGAKIT_CRASH_POINTS` setting.
final class CrashPlan: Sendable {
    enum Rule: Sendable, Equatable {
        case probability(Double)
        case nthHit(Int)
    }

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    let rules: [CrashPoint: Rule]
    private let state: Mutex<(rng: SplitMix64, hits: [CrashPoint: Int])>

    init(rules: [CrashPoint: Rule], seed: UInt64) {
        self.rules = rules
        state = Mutex((SplitMix64(seed: seed), [:]))
    }

    static let active: CrashPlan? = {
        let environment = ProcessInfo.processInfo.environment
        guard let text = environment[CrashPoint.environmentVariable], !text.isEmpty else { return nil }
        let seed = environment[CrashPoint.seedVariable].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        guard let plan = try? parse(text, seed: seed), !plan.rules.isEmpty else { return nil }
        return plan
    }()

    static func parse(_ text: String, seed: UInt64) throws -> CrashPlan {
        var rules: [CrashPoint: Rule] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let point = CrashPoint(rawValue: parts[0]) else {
                throw ParseError(description: "unknown crash point '\(parts[0])'; known: \(CrashPoint.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let spec = parts.count == 2 ? parts[1] : "1"
            if spec.hasPrefix("@") {
                guard let n = Int(spec.dropFirst()), n >= 1 else { throw ParseError(description: "crash point \(parts[0]): '@n' needs n >= 1") }
                rules[point] = .nthHit(n)
            } else {
                guard let p = Double(spec), (0...1).contains(p) else {
                    throw ParseError(description: "crash point \(parts[0]): probability must be between 0 and 1")
                }
                rules[point] = .probability(p)
            }
        }
        return CrashPlan(rules: rules, seed: seed)
    }

    /// Whether this hit should crash; counts the hit.
    func shouldCrash(_ point: CrashPoint) -> Bool {
        guard let rule = rules[point] else { return false }
        return state.withLock { state in
            let n = (state.hits[point] ?? 0) + 1
            state.hits[point] = n
            switch rule {
            case .nthHit(let target): return n == target
            case .probability(let p): return state.rng.nextDouble() < p
            }
        }
    }

    func hit(_ point: CrashPoint) {
        guard shouldCrash(point) else { return }
        let line = "sagakit: crash point \(point.rawValue) reached; killing the process\n"
        FileHandle.standardError.write(Data(line.utf8))
        kill(getpid(), SIGKILL)
    }
}

/// A small seeded generator, so a crash schedule repeats for a seed.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextDouble() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }
}
