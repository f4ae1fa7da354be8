import Foundation
import OrderSaga
import PGClient
import SagaKit
import Tracing

/// An order as a customer places it.
public struct OrderRequest: Sendable, Hashable {
    public var orderID: String
    public var sku: String
    public var quantity: Int
    public var amount: Money
    public var currency: String
    public var email: String

    public init(orderID: String, sku: String, quantity: Int, amount: Money, currency: String = "USD", email: String) {
        self.orderID = orderID
        self.sku = sku
        self.quantity = quantity
        self.amount = amount
        self.currency = currency
        self.email = email
    }

    /// The largest order total the intake takes. Orders are refused above it rather than declined by Payment
    /// (whose own limit, lower by default, is a business rule): an amount this large is a typing error or an
    /// attack, and refusing it keeps every later sum of amounts far from overflowing.
    public static let maxAmount = Money(cents: 100_000_000)

    /// Refuses, before anything is written, what would start a saga no one should run or fail it downstream: ids
    /// with control characters, a non-positive quantity or amount, an amount above `maxAmount`, an implausible
    /// address. Then what `OrderPlaced` checks (here, where `OrderSaga` is imported: elsewhere `event.validate()`
    /// would resolve to `SagaEvent`'s default, which checks nothing, by member import visibility).
    public func validate() throws {
        typealias Field = OrderRequestError.Field
        for (field, value) in [(Field.orderID, orderID), (.sku, sku)] {
            guard !value.isEmpty, value.utf8.count <= 128 else { throw OrderRequestError(field, "must be 1 to 128 bytes") }
            guard !InputChecks.hasControlCharacter(value) else { throw OrderRequestError(field, "must not contain control characters") }
        }
        // The quantity's column is an int4.
        guard (1...Int(Int32.max)).contains(quantity) else { throw OrderRequestError(.quantity, "must be 1 to \(Int32.max)") }
        guard amount.cents > 0 else { throw OrderRequestError(.amount, "must be positive") }
        guard amount <= Self.maxAmount else { throw OrderRequestError(.amount, "must be at most \(Self.maxAmount)") }
        guard currency.utf8.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw OrderRequestError(.currency, "must be a three-letter code such as USD")
        }
        guard InputChecks.isPlausibleEmail(email) else {
            throw OrderRequestError(.email, "must be an address like name@example.com (no spaces or control characters, at most 254 bytes)")
        }
        try event.validate()
    }

    var event: OrderPlaced {
        OrderPlaced(orderID: orderID, sku: sku, quantity: quantity, amountCents: amount.cents, currency: currency,
                    customerEmail: email)
    }
}

/// Why the intake refused an order: which field, and what is wrong with it. Never repeats the value (it may be
/// the customer's address, or garbage that would garble a log line).
public struct OrderRequestError: Error, CustomStringConvertible, Sendable {
    public enum Field: String, Sendable {
        case orderID = "order_id", sku, quantity, amount, currency, email = "customer_email"

        /// `saga-tracker start`'s option for it.
        public var option: String {
            switch self {
            case .orderID: "--order-id"
            case .email: "--email"
            default: "--\(rawValue)"
            }
        }
    }

    public let field: Field
    public let problem: String

    public init(_ field: Field, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field.rawValue) \(problem)" }
}

/// Starting sagas: the order row and its `OrderPlaced` event commit in one transaction, or neither does.
public enum OrderIntake {
    public enum Outcome: Sendable, Hashable {
        /// A new saga; its first event is in the outbox.
        case accepted(eventID: UUID, at: Date)
        /// The order id was already started; nothing new happened.
        case alreadyStarted(at: Date, sameDetails: Bool)
    }

    /// `waker`: coalesce the relay's wake-ups with other starts in this process (a busy intake); nil wakes the relay
    /// after every start.
    public static func start(
        _ request: OrderRequest, topics: TopicNames = TopicNames(), notify: Bool = true, waker: RelayWaker? = nil, on db: PGConnection
    ) async throws -> Outcome {
        try await start([request], topics: topics, notify: notify, waker: waker, on: db)[0].get()
    }

    /// Starts several sagas in one transaction, one result per request in the same order; `start(_:)` is this
    /// with one. A request whose order id is already started (or appears earlier in the same batch) changes
    /// nothing and gets `.alreadyStarted`. Throws, and starts none, when any request is invalid or the statement
    /// fails (a deadlock is retried: the statement is all or nothing). Once it committed, what can still fail
    /// (re-deriving a saga whose events came first, reading an existing order) fails only that request's result.
    ///
    /// With a tracer on, each request gets a `start saga` span, the root of its saga's trace (or a child of the
    /// caller's span: `contexts[i]` for `requests[i]`, else the task's current context), and its `OrderPlaced`
    /// stores that span's `traceparent`. With tracing off the event gets a new trace id, as it always did.
    public static func start(
        _ requests: [OrderRequest], topics: TopicNames = TopicNames(), notify: Bool = true, waker: RelayWaker? = nil,
        contexts: [ServiceContext]? = nil, on db: PGConnection
    ) async throws -> [Result<Outcome, any Error>] {
        guard !requests.isEmpty else { return [] }
        for request in requests { try request.validate() }
        // In order id order, so two batches that share order ids lock them in the same order.
        let order = requests.indices.sorted { requests[$0].orderID < requests[$1].orderID }
        let sorted = order.map { requests[$0] }
        let spans = SagaTracing.activeTracer.map { tracer in
            let current = ServiceContext.current ?? .topLevel
            return order.map { IntakeSpan(requests[$0], parent: contexts?[$0] ?? current, tracer: tracer) }
        }
        do {
            let started = try sorted.indices.map { try Started(sorted[$0], topics: topics, trace: spans?[$0].trace ?? .newRoot()) }
            let envelopes = started.map(\.envelope)
            for (span, start) in zip(spans ?? [], started) { span.identify(start.envelope, topic: start.row.topic) }
            let statement = insertStatement(sorted, started)
            let inserted = try await PGRetryPolicy.default.run { try await db.query(statement) }
            // Committed. From here on a failure belongs to the request it concerns, not to the whole batch.
            var accepted: [UUID: PGRow] = [:]
            for row in inserted { accepted[try row.decode("event_id")] = row }
            var results = [Result<Outcome, any Error>?](repeating: nil, count: requests.count)
            for (position, index) in order.enumerated() {
                guard let row = accepted[envelopes[position].eventID] else { continue }
                results[index] = await acceptedOutcome(requests[index], eventID: envelopes[position].eventID, row: row, on: db)
            }
            if notify && !accepted.isEmpty {
                if let waker { await waker.wake(using: db) } else { await Outbox.wakeRelay(on: db) }
            }
            let refused = order.filter { results[$0] == nil }
            if !refused.isEmpty {
                for (index, result) in zip(refused, await refusedOutcomes(refused.map { requests[$0] }, on: db)) { results[index] = result }
            }
            if let spans {
                for (position, index) in order.enumerated() { spans[position].end(results[index]!) }
            }
            if !accepted.isEmpty { CrashPoint.startAfterCommitBeforeResponse.hit() }
            return results.map { $0! }
        } catch {
            spans?.forEach { $0.end(.failure(error)) }
            throw error
        }
    }

    /// A request's `start saga` span: the root of its saga's trace.
    private struct IntakeSpan {
        let span: any Span
        let trace: TraceContext?

        init(_ request: OrderRequest, parent: ServiceContext, tracer: any Tracer) {
            span = tracer.startSpan(SagaTracing.startSpanName, context: parent, ofKind: .internal)
            span.attributes[SagaTracing.Attribute.sagaID] = request.orderID
            trace = SagaTracing.traceparent(of: span.context, using: tracer).flatMap(TraceContext.init(traceparent:))
        }

        func identify(_ envelope: EventEnvelope, topic: String) {
            span.updateAttributes { attributes in
                attributes[SagaTracing.Attribute.eventType] = envelope.eventType
                attributes[SagaTracing.Attribute.eventID] = envelope.eventID.uuidString.lowercased()
                attributes[SagaTracing.Attribute.destination] = topic
            }
        }

        func end(_ result: Result<Outcome, any Error>) {
            switch result {
            case .success(.accepted):
                span.attributes[SagaTracing.Attribute.outcome] = "accepted"
            case .success(.alreadyStarted(_, let same)):
                span.attributes[SagaTracing.Attribute.outcome] = same ? "already_started" : "already_started_differently"
            case .failure(let error):
                span.recordError(error)
                span.setStatus(SpanStatus(code: .error, message: "\(error)"))
            }
            span.end()
        }
    }

    /// A request's first event, its outbox row and its saga's first status, made before anything is written.
    private struct Started {
        let row: Outbox.Row
        let envelope: EventEnvelope
        let status: SagaStatus

        init(_ request: OrderRequest, topics: TopicNames, trace: TraceContext) throws {
            let message = try OutboxMessage(request.event, sagaID: request.orderID, causationID: nil, producer: Tracker.name,
                                            trace: trace, topics: topics)
            row = try Outbox.row(for: message)
            envelope = message.envelope
            guard let status = SagaProjection.derive(sagaID: request.orderID, events: [SagaEventRecord(message.envelope)]) else {
                preconditionFailure("a saga with one event has a status")
            }
            self.status = status
        }
    }

    /// One statement, so one round trip and one commit for the whole batch: each new order, its event in the
    /// outbox, the event and the saga's first status in the projection (so `status` answers before the event's
    /// round trip). A request shares in it only if its order id is new: the rows that follow the order are
    /// joined on the event id its insert returned, so a lost race (or a repeat within the batch) adds nothing.
    /// The relay's wake-up follows the commit (see Outbox.wakeRelay).
    private static func insertStatement(_ sorted: [OrderRequest], _ started: [Started]) -> PGQuery {
        let rows = started.map(\.row)
        let envelopes = started.map(\.envelope)
        let statuses = started.map(\.status)
        return """
            WITH input AS (
              SELECT * FROM unnest(
                \(sorted.map(\.orderID))::text[], \(sorted.map(\.sku))::text[], \(sorted.map(\.quantity))::int[],
                \(sorted.map(\.amount.cents))::bigint[], \(sorted.map(\.currency))::text[], \(sorted.map(\.email))::text[],
                \(envelopes.map(\.eventID))::uuid[],
                \(rows.map(\.topic))::text[], \(rows.map(\.eventType))::text[], \(rows.map(\.payload))::text[],
                \(PGArray(rows.map(\.traceparent)))::text[], \(envelopes.map(\.producer))::text[], \(envelopes.map(\.occurredAt))::timestamptz[],
                \(PGArray(envelopes.map(\.causationID)))::uuid[], \(envelopes.map { String(decoding: $0.payload, as: UTF8.self) })::text[],
                \(statuses.map(\.state.rawValue))::text[], \(PGArray(statuses.map(\.currentStep)))::text[],
                \(PGArray(statuses.map(\.waitingFor)))::text[], \(PGArray(statuses.map(\.startedAt)))::timestamptz[],
                \(statuses.map(\.updatedAt))::timestamptz[], \(PGArray(statuses.map(\.finishedAt)))::timestamptz[],
                \(statuses.map { $0.completedSteps.joined(separator: ",") })::text[],
                \(statuses.map { $0.compensations.joined(separator: ",") })::text[],
                \(PGArray(statuses.map(\.error)))::text[], \(statuses.map(\.eventCount))::int[]
              ) WITH ORDINALITY AS i(order_id, sku, quantity, amount_cents, currency, customer_email,
                                     event_id, topic, event_type, envelope, traceparent, producer, occurred_at, causation_id, event_payload,
                                     state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps, compensations,
                                     error, event_count, n)
            ), placed AS (
              INSERT INTO orders (order_id, sku, quantity, amount_cents, currency, customer_email, event_id)
              SELECT order_id, sku, quantity, amount_cents, currency, customer_email, event_id
              FROM input ORDER BY n
              ON CONFLICT (order_id) DO NOTHING
              RETURNING event_id, created_at
            ), won AS (
              SELECT i.*, p.created_at FROM input i JOIN placed p ON p.event_id = i.event_id
            ), outbox AS (
              \(unsafeRaw: Outbox.insert(selecting: "SELECT event_id, topic, order_id, event_type, envelope, traceparent FROM won ORDER BY n"))
            ), recorded AS (
              INSERT INTO saga_events (event_id, saga_id, event_type, producer, occurred_at, causation_id, payload)
              SELECT event_id, order_id, event_type, producer, occurred_at, causation_id, event_payload FROM won ORDER BY n
              ON CONFLICT (event_id) DO NOTHING
            ), projected AS (
              INSERT INTO sagas (saga_id, state, current_step, waiting_for, started_at, updated_at, finished_at, completed_steps,
                                 compensations, error, event_count)
              SELECT order_id, state, current_step, waiting_for, started_at, updated_at, finished_at,
                     string_to_array(completed_steps, ','), string_to_array(compensations, ','), error, event_count
              FROM won ORDER BY n
              ON CONFLICT (saga_id) DO NOTHING
              RETURNING saga_id
            )
            SELECT won.event_id, won.created_at, p.saga_id IS NOT NULL AS projected FROM won LEFT JOIN projected p ON p.saga_id = won.order_id
            """
    }

    /// The result of a request whose order the statement inserted. A saga the tracker had seen events of before
    /// its order gets its status derived from all of them; a failure there fails only this request.
    private static func acceptedOutcome(_ request: OrderRequest, eventID: UUID, row: PGRow, on db: PGConnection) async -> Result<Outcome, any Error> {
        let result: Result<Outcome, any Error>
        let projected: Bool
        do {
            result = .success(.accepted(eventID: eventID, at: try row.decode("created_at")))
            projected = try row.decode("projected")
        } catch {
            return .failure(error)
        }
        if !projected {
            // The tracker had seen events of this saga before its order: derive its status from all of them.
            let sagaID = request.orderID
            do {
                try await db.withTransaction { tx in _ = try ProjectionStore.rederive(sagaID: sagaID, on: tx) }
            } catch {
                return .failure(error)
            }
        }
        return result
    }

    /// The results of requests whose order id was taken, in their order: read the existing orders in one query.
    private static func refusedOutcomes(_ requests: [OrderRequest], on db: PGConnection) async -> [Result<Outcome, any Error>] {
        do {
            var existing: [String: PGRow] = [:]
            for row in try await db.query("""
                SELECT order_id, created_at, sku, quantity, amount_cents, currency, customer_email
                FROM orders WHERE order_id = ANY(\(requests.map(\.orderID))::text[])
                """) {
                existing[try row.decode("order_id")] = row
            }
            return requests.map { request in Result { try alreadyStarted(request, existing: existing[request.orderID]) } }
        } catch {
            return requests.map { _ in .failure(error) }
        }
    }

    /// The outcome of a request whose order id was taken: by an earlier start, or earlier in its own batch.
    private static func alreadyStarted(_ request: OrderRequest, existing row: PGRow?) throws -> Outcome {
        // A conflicting order committed before the statement ended, and orders are never deleted.
        guard let row else { throw OrderVanished(orderID: request.orderID) }
        let same = try row.decode("sku", as: String.self) == request.sku
            && row.decode("quantity", as: Int.self) == request.quantity
            && row.decode("amount_cents", as: Int64.self) == request.amount.cents
            && row.decode("currency", as: String.self) == request.currency
            && row.decode("customer_email", as: String.self) == request.email
        return .alreadyStarted(at: try row.decode("created_at"), sameDetails: same)
    }
}

/// An order id that conflicted at insert was not there a moment later: only a deletion behind the intake's back
/// explains it.
struct OrderVanished: Error, CustomStringConvertible {
    let orderID: String
    var description: String { "order \(orderID) conflicted at insert but is not in the orders table" }
}
