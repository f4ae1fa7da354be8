/// The fault option that makes valid events dead-letter, for tests and drills of the redrive path:
///
///     SAGAKIT_DEAD_LETTER_SAGAS='ORD-77*'
///
/// A consumer given it refuses every event of a matching saga (globs on the saga id, as `FaultMatcher` reads
/// them) before its transaction, so the inbox never sees the event: restarted without the option, the service
/// accepts the same event when it is redriven. It is a setting of the process, like `SAGAKIT_CRASH_POINTS`,
/// never something an event can ask for.
public enum DeadLetterFault {
    public static let variable = "SAGAKIT_DEAD_LETTER_SAGAS"
    /// The dead letters' reason.
    public static let reason = "refused by fault option \(variable)"
}
