/// What `saga-check` holds the order saga's stack to. Each violation names one of these.
public enum Invariant: String, CaseIterable, Codable, Sendable {
    /// Every saga ended (only with `--require-terminal`; otherwise sagas in flight are listed with their age).
    case sagaTerminal = "saga_terminal"
    /// Per SKU: everything ever stocked is available, held for a live saga, or sold to a completed one (or to a
    /// saga whose release an operator skipped).
    case stockConserved = "stock_conserved"
    /// Charges minus refunds equal what completed sagas cost plus the refunds operators skipped; nothing is
    /// captured for a saga that failed before payment, and a refund returns exactly its charge.
    case moneyConserved = "money_conserved"
    /// No effect applied twice: no service applied two events of one type for one saga, and the stock counters
    /// moved exactly as the reservations say.
    case effectOnce = "effect_once"
    /// Every committed outbox row is published (none pending past the grace period, none parked).
    case outboxPublished = "outbox_published"
    /// Each topic holds at least as many events as the outboxes say were published to it: the broker lost none.
    case topicsHoldPublished = "topics_hold_published"
    /// The tracker's state of each finished saga is the one the services' own records imply.
    case projectionMatches = "projection_matches"
    /// Every effect belongs to an order the tracker started (a forged event would create one that does not).
    case orderKnown = "order_known"

    public var summary: String {
        switch self {
        case .sagaTerminal: "every saga reached a terminal state"
        case .stockConserved: "stock conserved per SKU: stocked = available + held for live sagas + sold to completed ones"
        case .moneyConserved: "money conserved: charges - refunds = completed sagas' amounts + skipped refunds; no capture for a saga that failed before payment"
        case .effectOnce: "no effect applied twice"
        case .outboxPublished: "every committed outbox row published"
        case .topicsHoldPublished: "the topics hold every event the outboxes published"
        case .projectionMatches: "the tracker's projection equals what the services' records imply"
        case .orderKnown: "every effect belongs to an order the tracker started"
        }
    }
}

/// One broken invariant: which, the saga (when it concerns one), what is wrong, and the rows that show it.
public struct Violation: Codable, Sendable, Hashable {
    public var invariant: Invariant
    public var sagaID: String?
    public var message: String
    /// The rows involved, as `database.table key=value ...`.
    public var rows: [String]

    public init(_ invariant: Invariant, saga: String? = nil, _ message: String, rows: [String] = []) {
        self.invariant = invariant
        self.sagaID = saga
        self.message = message
        self.rows = rows
    }

    enum CodingKeys: String, CodingKey {
        case invariant, sagaID = "saga_id", message, rows
    }
}
