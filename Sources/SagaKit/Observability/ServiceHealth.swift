import CoreMetrics
import Synchronization

/// What `/health/ready` answers from: each part of a running service reports its state here, and the HTTP layer
/// reads it. The database check is the HTTP layer's (it probes on each request); the rest is what only the parts
/// know: whether each consumer has joined its group and been given partitions, and whether the relay knows who
/// holds the lease.
public final class ServiceHealth: Sendable {
    /// The relay's view of the outbox lease.
    public enum LeaseState: String, Sendable {
        /// Not yet asked (or the database is out of reach).
        case unknown
        /// This process holds the lease and publishes.
        case active
        /// Another process holds it; this one stands by.
        case standby
    }

    private struct State {
        /// Per consumer, its assigned partitions; nil until the group's first assignment.
        var consumers: [String: Set<String>?] = [:]
        /// nil: this process runs no relay.
        var lease: LeaseState?
    }

    private let state = Mutex(State())

    public init() {}

    public func consumerStarted(_ name: String) {
        state.withLock { $0.consumers[name] = .some(nil) }
    }

    /// Applies a rebalance: eager protocols revoke all then assign all, cooperative ones move deltas.
    public func consumer(_ name: String, assigned: [String], revoked: [String]) {
        state.withLock { state in
            var partitions = (state.consumers[name] ?? nil) ?? []
            partitions.subtract(revoked)
            partitions.formUnion(assigned)
            state.consumers[name] = .some(partitions)
        }
    }

    public func relayLease(_ lease: LeaseState) {
        state.withLock { $0.lease = lease }
    }

    /// The lease as last seen; nil when this process runs no relay.
    public var lease: LeaseState? { state.withLock { $0.lease } }

    /// Why the service is not ready, one reason per part; empty when it is. A consumer is ready once the group
    /// has given it partitions; a member left without any (more members than partitions) is a standby, not ready
    /// for traffic, and says so.
    public func notReadyReasons() -> [String] {
        state.withLock { state in
            var reasons: [String] = []
            for (name, partitions) in state.consumers.sorted(by: { $0.key < $1.key }) {
                switch partitions {
                case .none: reasons.append("consumer \(name): not joined to its group yet")
                case .some(let set) where set.isEmpty: reasons.append("consumer \(name): no partitions assigned")
                default: break
                }
            }
            if state.lease == .unknown { reasons.append("relay: lease state unknown") }
            return reasons
        }
    }

    /// Partitions per consumer, for the health body.
    public func assignedPartitions() -> [String: Int] {
        state.withLock { state in state.consumers.mapValues { ($0 ?? []).count } }
    }
}
