import CoreMetrics
import Foundation
import KafkaClient
import PGClient

/// Puts a dead letter's original message back on its source topic, for after the cause was fixed (a consumer
/// bug, a fault option switched off), and records who did it in the service's audit log.
///
/// It goes back through the source topic rather than into the refusing service's handler directly so that the
/// message takes the one path every event takes: the consumer's own checks, the inbox, the batch transaction.
/// The inbox makes it idempotent: a refused event was never claimed there, so the first redrive applies it and
/// any later one (or another service that had accepted it the first time) finds it done. A message refused again
/// is dead-lettered again; nothing is lost either way.
public enum DeadLetterRedrive {
    /// Set on a redriven message: the dead letter's id, and who redrove it.
    public static let redrivenFromHeader = "sagakit-redriven-from"
    public static let redrivenByHeader = "sagakit-redriven-by"
    /// Counted after the broker acknowledged a redrive (by service), in the process that did it.
    public static let redrivenMetric = "sagakit_dead_letters_redriven_total"

    /// A dead letter that cannot be redriven as it is.
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// What a redrive did, or with `dryRun` would do.
    public struct Outcome: Sendable, Hashable, Codable {
        public var id: String
        public var sagaID: String?
        public var eventID: String?
        /// Where the message goes: its source topic and partition.
        public var topic: String
        public var partition: Int32
        /// Its offset there, once acknowledged; nil on a dry run.
        public var offset: Int64?
        public var dryRun: Bool
        public var actor: String
        /// Redrives of the same dead letter recorded before this one (a repeat is harmless: the inbox skips it).
        public var previousRedrives: Int
        /// The request (by its id) was acted on before: nothing was published or recorded this time.
        public var repeatedRequest = false

        enum CodingKeys: String, CodingKey {
            case id, sagaID = "saga_id", eventID = "event_id", topic, partition, offset, dryRun = "dry_run", actor
            case previousRedrives = "previous_redrives", repeatedRequest = "repeated_request"
        }
    }

    /// The message a redrive publishes: the original key, value and headers (without the dead-lettering's
    /// `sagakit-dlq-*` ones and any earlier redrive's), plus where it came from and who sent it, on the source
    /// partition. Refused when the dead letter holds only part of the key or value.
    public static func message(for stored: StoredDeadLetter, actor: String) throws(Refused) -> KafkaOutgoingMessage {
        let letter = stored.letter
        if let size = letter.valueTruncatedFrom {
            throw Refused(description: "dead letter \(letter.id) holds only the first \(letter.valueBytes ?? 0) of \(size) bytes of its value; the whole message is still on \(letter.sourceTopic) partition \(letter.sourcePartition) at offset \(letter.sourceOffset) (replay it from there)")
        }
        if let size = letter.keyTruncatedFrom {
            throw Refused(description: "dead letter \(letter.id) holds only the first \(DeadLetters.maxKeyBytes) of \(size) bytes of its key; the whole message is still on \(letter.sourceTopic) partition \(letter.sourcePartition) at offset \(letter.sourceOffset) (replay it from there)")
        }
        var headers = stored.message.headers.filter {
            !$0.name.hasPrefix(DeadLetters.headerPrefix) && $0.name != redrivenFromHeader && $0.name != redrivenByHeader
        }
        headers.append(KafkaHeader(name: redrivenFromHeader, string: letter.id))
        headers.append(KafkaHeader(name: redrivenByHeader, string: actor))
        return KafkaOutgoingMessage(topic: letter.sourceTopic, key: stored.message.key, value: stored.message.value, headers: headers,
                                    partition: letter.sourcePartition)
    }

    /// Redrives one dead letter: publishes it (unless `dryRun`), waits for the broker's acknowledgement, then
    /// records the action in `sagakit_audit_log`, in a transaction of its own that waits on nothing else. A
    /// publish that fails is recorded too (without the request id, so the request can be tried again), then
    /// thrown. A dry run publishes and records nothing.
    ///
    /// Takes what a running participant has (its producer, a connection to its database), so the operator
    /// console can call it as the command line does. A `requestID` (the console's) already in the audit log makes
    /// the call a no-op (`repeatedRequest`): a request delivered twice redrives once.
    public static func redrive(
        _ stored: StoredDeadLetter, actor: String, dryRun: Bool, requestID: String? = nil, producer: ProducerHandle, db: PGConnection
    ) async throws -> Outcome {
        let letter = stored.letter
        let outgoing = try Self.message(for: stored, actor: actor)
        let previous = try await AuditLog.count(action: AuditLog.Action.redriveDeadLetter, target: letter.id, on: db)
        var outcome = Outcome(
            id: letter.id, sagaID: letter.sagaID ?? letter.key, eventID: letter.eventID, topic: letter.sourceTopic, partition: letter.sourcePartition,
            offset: nil, dryRun: dryRun, actor: actor, previousRedrives: previous)
        guard !dryRun else { return outcome }
        guard let requestID else {
            return try await publish(stored, outcome: outcome, requestID: nil, producer: producer, outgoing: outgoing, db: db)
        }
        // The same request twice at once (a double click): a session-level advisory lock on the request id, held
        // across the publish but outside any transaction, lets the second find the first's audit row and do nothing.
        let lockKey = "sagakit.redrive:" + requestID
        _ = try await db.query("SELECT pg_advisory_lock(hashtextextended(\(lockKey), 0))")
        do {
            if try await db.withTransaction({ tx in try AuditLog.hasRequest(requestID, on: tx) }) {
                outcome.repeatedRequest = true
            } else {
                outcome = try await publish(stored, outcome: outcome, requestID: requestID, producer: producer, outgoing: outgoing, db: db)
            }
        } catch {
            _ = try? await db.query("SELECT pg_advisory_unlock(hashtextextended(\(lockKey), 0))")
            throw error
        }
        _ = try await db.query("SELECT pg_advisory_unlock(hashtextextended(\(lockKey), 0))")
        return outcome
    }

    /// Publishes, waits for the acknowledgement, then audits; a failed publish is audited without the request id.
    private static func publish(
        _ stored: StoredDeadLetter, outcome start: Outcome, requestID: String?, producer: ProducerHandle, outgoing: KafkaOutgoingMessage,
        db: PGConnection
    ) async throws -> Outcome {
        let letter = stored.letter
        var outcome = start
        var detail = ["source": letter.source, "refused_by": "\(letter.service)/\(letter.consumer)"]
        if let eventID = letter.eventID { detail["event_id"] = eventID }
        let report: KafkaDeliveryReport
        do {
            report = try await producer.send(outgoing)
        } catch {
            try await record(letter, sagaID: outcome.sagaID, actor: outcome.actor, outcome: "failed: \(error)", detail: detail, requestID: nil, on: db)
            throw error
        }
        outcome.offset = report.offset
        detail["redriven_to"] = DeadLetter.id(topic: report.topic, partition: report.partition, offset: report.offset)
        try await record(letter, sagaID: outcome.sagaID, actor: outcome.actor, outcome: "done", detail: detail, requestID: requestID, on: db)
        Counter(label: redrivenMetric, dimensions: [("refused_by", letter.service)]).increment()
        return outcome
    }

    private static func record(
        _ letter: DeadLetter, sagaID: String?, actor: String, outcome: String, detail: [String: String], requestID: String?,
        on db: PGConnection
    ) async throws {
        try await db.withTransaction { tx in
            try AuditLog.record(actor: actor, action: AuditLog.Action.redriveDeadLetter, target: letter.id, sagaID: sagaID,
                                reason: nil, outcome: outcome, detail: detail, requestID: requestID, on: tx)
        }
    }
}

extension AuditLog {
    /// How many entries record this action on this target.
    static func count(action: String, target: String, on db: PGConnection) async throws -> Int {
        try await db.query("""
            SELECT count(*) AS n FROM sagakit_audit_log WHERE action = \(action) AND target = \(target) AND outcome = 'done'
            """)[0].decode("n")
    }
}
