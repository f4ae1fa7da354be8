/// Exponential backoff with jitter: attempt n waits a random time between half and all of
/// `min(initial × 2^(n-1), maximum)`. Jitter keeps restarted processes from retrying in lockstep.
///
/// The one backoff of the package: PGClient's transaction retries and listener reconnects use it, and so do
/// SagaKit's consumer and relay. It lives here, in the lowest module that needs it, because PGClient cannot see
/// SagaKit.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(50), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    public func delay(attempt: Int) -> Duration {
        let ceiling = min(initial * Int(1 << min(max(attempt, 1) - 1, 24)), maximum)
        return ceiling * Double.random(in: 0.5...1.0)
    }
}
