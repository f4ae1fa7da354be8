import Foundation
import KafkaClient
import Logging
import OrderSaga
import PGClient
import SagaKit

/// Checks the order saga's invariants across the four services' databases and the topics, read-only.
///
/// Sagas are read a page at a time (keyset on the order id), each page's records fetched from every database with
/// one query per table, so memory stays flat however many sagas there are; only per-SKU and money totals are
/// kept across pages.
public struct SagaChecker: Sendable {
    public struct Databases: Sendable {
        public var inventory: PGConfig
        public var payment: PGConfig
        public var notification: PGConfig
        public var tracker: PGConfig

        public init(inventory: PGConfig, payment: PGConfig, notification: PGConfig, tracker: PGConfig) {
            self.inventory = inventory
            self.payment = payment
            self.notification = notification
            self.tracker = tracker
        }
    }

    public struct Options: Sendable {
        /// A saga in flight is a violation, not a listing (after the load stopped and the stack went quiet).
        public var requireTerminal = false
        /// Outbox rows younger than this may still be on their way: not a violation.
        public var grace: Duration = .seconds(30)
        public var pageSize = 5000
        /// Sagas in flight listed in the report, at most (all are counted).
        public var inFlightListed = 100
        /// Violations listed in the report, at most. Per-saga violations are all counted; the scans for orphaned
        /// effects and late outbox rows stop after this many of each.
        public var violationsListed = 1000

        public init() {}
    }

    public struct InFlight: Codable, Sendable, Hashable {
        public var sagaID: String
        public var state: String
        public var ageSeconds: Double

        enum CodingKeys: String, CodingKey { case sagaID = "saga_id", state, ageSeconds = "age_seconds" }
    }

    public struct Report: Encodable, Sendable {
        public var clean: Bool { violationCount == 0 }
        public var sagas = 0
        public var terminal = 0
        public var inFlightCount = 0
        public var inFlight: [InFlight] = []
        /// Finished sagas whose tracker view retention removed; their participants' records were checked.
        public var purgedFromView = 0
        public var violationCount = 0
        public var violations: [Violation] = []
        public var invariants: [Invariant] = Invariant.allCases

        enum CodingKeys: String, CodingKey {
            case clean, sagas, terminal, purgedFromView = "purged_from_view", inFlightCount = "in_flight_count", inFlight = "in_flight",
                 violationCount = "violation_count", violations, invariants
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(clean, forKey: .clean)
            try container.encode(sagas, forKey: .sagas)
            try container.encode(terminal, forKey: .terminal)
            try container.encode(purgedFromView, forKey: .purgedFromView)
            try container.encode(inFlightCount, forKey: .inFlightCount)
            try container.encode(inFlight, forKey: .inFlight)
            try container.encode(violationCount, forKey: .violationCount)
            try container.encode(violations, forKey: .violations)
            try container.encode(invariants, forKey: .invariants)
        }
    }

    public let databases: Databases
    public let kafka: KafkaConfiguration
    public let topics: TopicNames
    public let options: Options
    public let logger: Logger

    public init(databases: Databases, kafka: KafkaConfiguration, topics: TopicNames, options: Options, logger: Logger) {
        self.databases = databases
        self.kafka = kafka
        self.topics = topics
        self.options = options
        self.logger = logger
    }

    /// The services' databases by name, in report order.
    private var services: [(name: String, config: PGConfig)] {
        [("inventory", databases.inventory), ("payment", databases.payment), ("notification", databases.notification), ("tracker", databases.tracker)]
    }

    public func run() async throws -> Report {
        var report = Report()
        var connections: [String: PGConnection] = [:]
        do {
            for (name, config) in services {
                var readOnly = config
                readOnly.sessionSettings["default_transaction_read_only"] = "on"
                do {
                    connections[name] = try await PGConnection.connect(readOnly, logger: logger)
                } catch {
                    throw CheckFailure("cannot connect to the \(name) database (\(config.redacted)): \(error)")
                }
            }
            let db = Connections(inventory: connections["inventory"]!, payment: connections["payment"]!,
                                 notification: connections["notification"]!, tracker: connections["tracker"]!)
            var totals = Totals()
            try await checkSagas(db, &report, &totals)
            try await checkOrphans(db, &report)
            // Money needs no total across pages: a saga's own checks (a completed one's charge is its order's amount
            // and not refunded, a refund equals its charge, nothing charged for a failed or declined one) add up to
            // charges - refunds = completed sagas' amounts.
            try await checkStock(db, totals: totals, &report)
            let published = try await checkOutboxes(connections, &report)
            try await checkTopics(published: published, &report)
        } catch {
            for connection in connections.values { await connection.close() }
            throw error
        }
        for connection in connections.values { await connection.close() }
        return report
    }

    private struct Connections {
        let inventory: PGConnection
        let payment: PGConnection
        let notification: PGConnection
        let tracker: PGConnection
    }

    /// Kept across pages: what completed sagas bought, per SKU.
    private struct Totals {
        var soldBySKU: [String: Int] = [:]
    }

    private func add(_ violation: Violation, to report: inout Report) {
        report.violationCount += 1
        if report.violations.count < options.violationsListed { report.violations.append(violation) }
    }

    // MARK: - Sagas, a page at a time

    private func checkSagas(_ db: Connections, _ report: inout Report, _ totals: inout Totals) async throws {
        var last = ""
        let now = Date()
        // Before when the tracker's retention removed finished sagas from its view (nil if it never has).
        // A tracker database before migration 0007 has no such table, and has never purged.
        let horizon: Date?
        do {
            horizon = try await db.tracker.query("SELECT purged_before FROM projection_retention WHERE name = 'sagas'").first?.decode("purged_before")
        } catch let error as PGError where error.hasSQLState(.undefinedTable) {
            horizon = nil
        }
        while true {
            let page = try await db.tracker.query("""
                SELECT o.order_id, o.sku, o.quantity, o.amount_cents, o.created_at, s.state
                FROM orders o LEFT JOIN sagas s ON s.saga_id = o.order_id
                WHERE o.order_id > \(last) ORDER BY o.order_id LIMIT \(options.pageSize)
                """)
            guard !page.isEmpty else { return }
            var records: [String: SagaRecords] = [:]
            var ids: [String] = []
            for row in page {
                let id: String = try row.decode("order_id")
                var record = SagaRecords(sagaID: id)
                record.order = SagaRecords.Order(sku: try row.decode("sku"), quantity: try row.decode("quantity"),
                                                 amountCents: try row.decode("amount_cents"), createdAt: try row.decode("created_at"))
                record.trackerState = try row.decode("state")
                records[id] = record
                ids.append(id)
            }
            last = ids.last!
            try await fill(&records, ids: ids, db)
            for (service, connection) in [("inventory", db.inventory), ("payment", db.payment), ("notification", db.notification), ("tracker", db.tracker)] {
                for repeated in try await Inbox.repeats(sagaIDs: ids, on: connection) {
                    add(Violation(.effectOnce, saga: repeated.sagaID, "\(service) applied \(repeated.count) \(repeated.eventType) events for one saga",
                                  rows: ["\(service) inbox consumer=\(repeated.consumer) saga_id=\(repeated.sagaID) event_type=\(repeated.eventType) rows=\(repeated.count)"]),
                        to: &report)
                }
            }
            for id in ids {
                var record = records[id]!
                if record.acceptPurgedProjection(horizon: horizon) { report.purgedFromView += 1 }
                report.sagas += 1
                let state = record.trackerState ?? "running"
                if record.inFlight {
                    report.inFlightCount += 1
                    if report.inFlight.count < options.inFlightListed {
                        report.inFlight.append(InFlight(sagaID: id, state: record.settling ? "completed (settling)" : state,
                                                        ageSeconds: now.timeIntervalSince(record.order!.createdAt)))
                    }
                } else {
                    report.terminal += 1
                }
                for violation in record.check(requireTerminal: options.requireTerminal) { add(violation, to: &report) }
                if !record.inFlight, record.impliedState == "completed", let order = record.order {
                    totals.soldBySKU[order.sku, default: 0] += order.quantity
                }
                // Units sold whose release an operator skipped are theirs to account for, not a completed saga's.
                if !record.inFlight, record.releaseSkipped, let reservation = record.reservation, reservation.status == "fulfilled" {
                    totals.soldBySKU[reservation.sku, default: 0] += reservation.quantity
                }
            }
        }
    }

    /// The participants' records for the sagas in `ids`.
    private func fill(_ records: inout [String: SagaRecords], ids: [String], _ db: Connections) async throws {
        /// Each row's saga record, updated by `apply`.
        func each(_ rows: PGRows, _ apply: (inout SagaRecords, PGRow) throws -> Void) throws {
            for row in rows {
                let id: String = try row.decode("order_id")
                var record = records[id] ?? SagaRecords(sagaID: id)
                try apply(&record, row)
                records[id] = record
            }
        }
        try each(await db.inventory.query("SELECT order_id, sku, quantity, status FROM reservations WHERE order_id = ANY(\(ids))")) { r, row in
            r.reservation = SagaRecords.Reservation(sku: try row.decode("sku"), quantity: try row.decode("quantity"), status: try row.decode("status"))
        }
        try each(await db.inventory.query("SELECT order_id FROM rejections WHERE order_id = ANY(\(ids))")) { r, _ in r.rejected = true }
        try each(await db.payment.query("SELECT order_id, status, amount_cents FROM charges WHERE order_id = ANY(\(ids))")) { r, row in
            r.charge = SagaRecords.Charge(status: try row.decode("status"), amountCents: try row.decode("amount_cents"))
        }
        try each(await db.payment.query("SELECT order_id, amount_cents FROM refunds WHERE order_id = ANY(\(ids))")) { r, row in
            r.refundCents = try row.decode("amount_cents")
        }
        try each(await db.payment.query("SELECT order_id FROM declines WHERE order_id = ANY(\(ids))")) { r, _ in r.declined = true }
        try each(await db.notification.query("SELECT order_id, status FROM confirmations WHERE order_id = ANY(\(ids))")) { r, row in
            r.confirmation = try row.decode("status")
        }
        for connection in [db.payment, db.inventory] {
            for skip in try await ParkedCompensations.skipped(sagaIDs: ids, on: connection) {
                records[skip.sagaID, default: SagaRecords(sagaID: skip.sagaID)].skipped.insert(skip.compensation)
            }
        }
    }

    /// Effects whose order the tracker never started: each participant's tables, paged, against the tracker's orders.
    private func checkOrphans(_ db: Connections, _ report: inout Report) async throws {
        let tables: [(PGConnection, String)] = [
            (db.inventory, "reservations"), (db.inventory, "rejections"), (db.payment, "charges"), (db.payment, "refunds"),
            (db.payment, "declines"), (db.notification, "confirmations"),
        ]
        var orphans: Set<String> = []
        for (connection, table) in tables {
            var last = ""
            while true {
                let ids: [String] = try await connection.query(
                    "SELECT order_id FROM \(unsafeRaw: table) WHERE order_id > \(last) ORDER BY order_id LIMIT \(options.pageSize)"
                ).map { try $0.decode("order_id") }
                guard let end = ids.last else { break }
                last = end
                let known = Set(try await db.tracker.query("SELECT order_id FROM orders WHERE order_id = ANY(\(ids))").map { try $0.decode("order_id", as: String.self) })
                for id in ids where !known.contains(id) { orphans.insert(id) }
                if orphans.count >= options.violationsListed { break }
            }
        }
        // Sagas the tracker projected from events whose order it never took (a forged OrderPlaced, say).
        let projected: [String] = try await db.tracker.query("""
            SELECT saga_id FROM sagas s WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = s.saga_id)
            ORDER BY saga_id LIMIT \(options.violationsListed)
            """).map { try $0.decode("saga_id") }
        for id in projected where !orphans.contains(id) {
            add(Violation(.orderKnown, saga: id, "the tracker projects a saga whose order it never started", rows: ["tracker.sagas saga_id=\(id)"]), to: &report)
        }
        guard !orphans.isEmpty else { return }
        let ids = orphans.sorted()
        var records: [String: SagaRecords] = [:]
        try await fill(&records, ids: ids, db)
        for id in ids {
            var record = records[id] ?? SagaRecords(sagaID: id)
            record.trackerState = nil
            for violation in record.check(requireTerminal: false) where violation.invariant == .orderKnown || violation.invariant == .moneyConserved {
                add(violation, to: &report)
            }
        }
    }

    // MARK: - Stock

    private func checkStock(_ db: Connections, totals: Totals, _ report: inout Report) async throws {
        let rows = try await db.inventory.query("""
            SELECT s.sku, s.stocked, s.available, s.reserved, s.fulfilled,
                   coalesce(sum(r.quantity) FILTER (WHERE r.status = 'reserved'), 0)::int8 AS held,
                   coalesce(sum(r.quantity) FILTER (WHERE r.status = 'fulfilled'), 0)::int8 AS sold
            FROM stock s LEFT JOIN reservations r ON r.sku = s.sku
            GROUP BY s.sku ORDER BY s.sku
            """)
        for row in rows {
            let sku: String = try row.decode("sku")
            let stocked: Int = try row.decode("stocked")
            let available: Int = try row.decode("available")
            let reserved: Int = try row.decode("reserved")
            let fulfilled: Int = try row.decode("fulfilled")
            let held: Int = try row.decode("held")
            let sold: Int = try row.decode("sold")
            let stockRow = "inventory.stock sku=\(sku) stocked=\(stocked) available=\(available) reserved=\(reserved) fulfilled=\(fulfilled)"
            if available + reserved + fulfilled != stocked {
                add(Violation(.stockConserved, "\(sku): available + reserved + fulfilled = \(available + reserved + fulfilled), but \(stocked) were stocked",
                              rows: [stockRow]), to: &report)
            }
            if reserved != held || fulfilled != sold {
                add(Violation(.effectOnce, "\(sku): the counters say \(reserved) held and \(fulfilled) sold, the reservations \(held) and \(sold)",
                              rows: [stockRow, "inventory.reservations sku=\(sku) reserved=\(held) fulfilled=\(sold)"]), to: &report)
            }
            let completed = totals.soldBySKU[sku] ?? 0
            if report.inFlightCount == 0 && sold != completed {
                add(Violation(.stockConserved, "\(sku): \(sold) units sold, but completed sagas bought \(completed)",
                              rows: [stockRow, "inventory.reservations sku=\(sku) fulfilled=\(sold)"]), to: &report)
            }
        }
    }

    // MARK: - Outboxes and topics

    /// Rows pending past the grace period or parked; returns what each database's outbox says it published, per topic.
    private func checkOutboxes(_ connections: [String: PGConnection], _ report: inout Report) async throws -> [String: Int] {
        var published: [String: Int] = [:]
        for (name, _) in services {
            let db = connections[name]!
            for row in try await Outbox.late(olderThan: options.grace, limit: options.violationsListed, on: db) {
                add(Violation(.outboxPublished, saga: row.key,
                              row.parked ? "\(row.eventType) parked by \(name)'s relay: \(row.lastError ?? "no error recorded")"
                                         : "\(row.eventType) committed \(Int(row.ageSeconds)) s ago and not published",
                              rows: ["\(name) outbox id=\(row.id) event_id=\(row.eventID.uuidString.lowercased()) topic=\(row.topic)"]),
                    to: &report)
            }
            published.merge(try await Outbox.publishedCounts(on: db)) { $0 + $1 }
        }
        return published
    }

    /// Each topic's events (read to its true end: Tansu's high watermark can stop a batch short) against what the
    /// outboxes say they published to it. Topic retention must be at least the outboxes' (7 days by default).
    private func checkTopics(published: [String: Int], _ report: inout Report) async throws {
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        var counts: [String: Int64] = [:]
        var ends: [KafkaTopicPartition: Int64] = [:]
        var tails: [KafkaTopicPartitionOffset] = []
        do {
            for topic in OrderSagaTopics.all.map({ topics($0) }) {
                let partitions = try await admin.partitions(of: topic)
                guard !partitions.isEmpty else {
                    if (published[topic] ?? 0) > 0 {
                        add(Violation(.topicsHoldPublished, "topic \(topic) does not exist, but \(published[topic]!) events were published to it",
                                      rows: ["outboxes: \(published[topic]!) published rows for \(topic)"]), to: &report)
                    }
                    continue
                }
                for partition in partitions {
                    let marks = try await admin.watermarks(topic: topic, partition: partition)
                    counts[topic, default: 0] -= marks.low
                    ends[KafkaTopicPartition(topic: topic, partition: partition)] = marks.high
                    if marks.high > marks.low { tails.append(KafkaTopicPartitionOffset(topic: topic, partition: partition, offset: marks.high - 1)) }
                }
            }
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        // From each partition's last reported record to its true end: only the batch the watermark misses is read.
        var reader = KafkaTopicReader(configuration: kafka, groupID: "saga-check-\(UUID().uuidString.prefix(8).lowercased())",
                                      clientID: "saga-check", logger: logger)
        reader.timeout = .seconds(30)
        try await reader.read(from: tails, highWatermarks: ends) { message in
            ends[message.topicPartition] = max(ends[message.topicPartition] ?? 0, message.offset + 1)
        }
        for (partition, end) in ends { counts[partition.topic, default: 0] += end }
        for (topic, count) in published.sorted(by: { $0.key < $1.key }) where OrderSagaTopics.all.map({ topics($0) }).contains(topic) {
            let held = counts[topic] ?? 0
            if held < Int64(count) {
                add(Violation(.topicsHoldPublished,
                              "topic \(topic) holds \(held) events, but the outboxes say \(count) were published to it: the broker lost data (docs/OPERATIONS.md, \"The broker lost its data\")",
                              rows: ["outboxes: \(count) published rows for \(topic)", "kafka \(topic): \(held) messages"]), to: &report)
            }
        }
    }
}

/// A failure that stops the check (a database out of reach), reported in one line.
public struct CheckFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
