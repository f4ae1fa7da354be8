import Foundation
import Hummingbird
import Logging
import NIOCore
import PGClient
import SagaKit

/// An operator action as the console sends it to the service that owns what it acts on.
public struct OperatorRequest: Sendable, Codable, Hashable {
    /// Makes the action happen once however often the request arrives (a resubmitted form, a retried call).
    public var requestID: String?
    /// Who acts, for the audit log.
    public var actor: String
    /// A dead letter's id, for a redrive.
    public var deadLetterID: String?
    /// The saga whose parked compensation to retry or skip.
    public var sagaID: String?
    /// Why, for a skip.
    public var reason: String?

    public init(requestID: String?, actor: String, deadLetterID: String? = nil, sagaID: String? = nil, reason: String? = nil) {
        self.requestID = requestID
        self.actor = actor
        self.deadLetterID = deadLetterID
        self.sagaID = sagaID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id", actor, deadLetterID = "dead_letter_id", sagaID = "saga_id", reason
    }
}

/// What an operator action did: one line for a person, and the result in the CLI's `--json` shape.
public struct OperatorReply: Sendable, Codable, Hashable {
    public var ok: Bool
    public var message: String
    public var redrive: DeadLetterRedrive.Outcome?
    public var compensation: CompensationResolution?

    public init(ok: Bool, message: String, redrive: DeadLetterRedrive.Outcome? = nil, compensation: CompensationResolution? = nil) {
        self.ok = ok
        self.message = message
        self.redrive = redrive
        self.compensation = compensation
    }
}

/// `POST /operator/...` on a participant's `run`: the operator actions the console forwards, run here because
/// here are the participant's database role, broker principal and handlers (docs/ARCHITECTURE.md, "Console").
/// Each does what the command line does (`dead-letters redrive`, `compensations retry|skip`), with the request's
/// id in the audit log so it happens once. Without `--allow-actions`, or without the bearer token, 403.
public struct OperatorRoutes: Sendable {
    public static let redrivePath = "/operator/dead-letters/redrive"
    public static let retryPath = "/operator/compensations/retry"
    public static let skipPath = "/operator/compensations/skip"
    /// What every actor of an action taken over HTTP starts with, in the audit log.
    public static let actorPrefix = "console:"

    let service: String
    let access: OperatorAccess?
    let database: PGConfig
    let producer: ProducerHandle
    let reader: DeadLetterReader
    let handlers: CompensationHandlers
    let logger: Logger

    public init(
        service: String, access: OperatorAccess?, database: PGConfig, producer: ProducerHandle, reader: DeadLetterReader,
        handlers: CompensationHandlers, logger: Logger
    ) {
        self.service = service
        self.access = access
        self.database = database
        self.producer = producer
        self.reader = reader
        self.handlers = handlers
        var logger = logger
        logger[metadataKey: "component"] = "operator"
        self.logger = logger
    }

    public func mount(on router: Router<BasicRequestContext>) {
        router.post(RouterPath(Self.redrivePath)) { request, _ in await handle(request) { try await redrive($0) } }
        router.post(RouterPath(Self.retryPath)) { request, _ in await handle(request) { try await compensation($0, skip: false) } }
        router.post(RouterPath(Self.skipPath)) { request, _ in await handle(request) { try await compensation($0, skip: true) } }
    }

    private func redrive(_ request: OperatorRequest) async throws -> (HTTPResponse.Status, OperatorReply) {
        guard let id = request.deadLetterID, DeadLetter.parseID(id) != nil else {
            return (.badRequest, OperatorReply(ok: false, message: "dead_letter_id must be <dlq topic>:<partition>:<offset>"))
        }
        let stored: StoredDeadLetter
        do {
            stored = try await reader.find([id])[0]
        } catch let missing as DeadLetterReader.NotFound {
            return (.notFound, OperatorReply(ok: false, message: missing.description))
        }
        do {
            _ = try DeadLetterRedrive.message(for: stored, actor: request.actor)
        } catch {
            return (.unprocessableContent, OperatorReply(ok: false, message: error.description))
        }
        let outcome = try await PGConnection.withConnection(database, logger: logger) { db in
            try await DeadLetterRedrive.redrive(stored, actor: request.actor, dryRun: false, requestID: request.requestID, producer: producer, db: db)
        }
        logger.notice("operator action: dead letter redriven", metadata: ["dead_letter": "\(id)", "actor": "\(request.actor)"])
        let message = outcome.repeatedRequest
            ? "request already acted on: \(id) was redriven then"
            : "redrove \(id) to \(outcome.topic):\(outcome.partition):\(outcome.offset.map(String.init) ?? "?")"
        return (.ok, OperatorReply(ok: true, message: message, redrive: outcome))
    }

    private func compensation(_ request: OperatorRequest, skip: Bool) async throws -> (HTTPResponse.Status, OperatorReply) {
        guard let sagaID = request.sagaID, !sagaID.isEmpty else { return (.badRequest, OperatorReply(ok: false, message: "saga_id is required")) }
        let reason = request.reason?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if skip, reason.isEmpty { return (.badRequest, OperatorReply(ok: false, message: "a skip needs a reason")) }
        // PostgreSQL text cannot hold a NUL (PGClient refuses it): a bad request, not a failure of the service.
        if (sagaID + reason).unicodeScalars.contains("\u{0}") {
            return (.badRequest, OperatorReply(ok: false, message: "saga_id and reason must not contain a NUL character"))
        }
        return try await PGConnection.withConnection(database, logger: logger) { db in
            // A request seen before (a resubmitted form) was acted on then: say so, rather than "nothing parked".
            if let requestID = request.requestID, try await db.withTransaction({ tx in try AuditLog.hasRequest(requestID, on: tx) }) {
                return (.ok, OperatorReply(ok: true, message: "request already acted on: nothing more done for saga \(sagaID)"))
            }
            // The oldest parked one: compensations park one at a time per saga, the next waiting on the settled one.
            guard let parked = try await ParkedCompensations.list(sagaID: sagaID, limit: 1, on: db).first else {
                return (.notFound, OperatorReply(ok: false, message: "no parked compensation for saga \(sagaID) in the \(service) service"))
            }
            let resolution: CompensationResolution
            do {
                resolution = skip
                    ? try await ParkedCompensations.skip(id: parked.id, reason: reason, actor: request.actor, requestID: request.requestID, handlers: handlers, on: db)
                    : try await ParkedCompensations.retry(id: parked.id, actor: request.actor, requestID: request.requestID, handlers: handlers, on: db)
            } catch let error as ParkedCompensationError where error.kind == .repeatedRequest {
                return (.ok, OperatorReply(ok: true, message: "request already acted on: nothing more done for saga \(sagaID)"))
            } catch let error as ParkedCompensationError {
                let status: HTTPResponse.Status = switch error.kind {
                case .notFound: .notFound
                case .alreadyResolved, .repeatedRequest: .conflict
                case .noHandler, .invalid: .unprocessableContent
                }
                return (status, OperatorReply(ok: false, message: error.description))
            }
            logger.notice("operator action: compensation \(resolution.outcome)", metadata: [
                "saga_id": "\(sagaID)", "compensation": "\(resolution.compensation)", "actor": "\(request.actor)",
            ])
            let subject = "\(resolution.compensation) for saga \(sagaID)"
            guard resolution.succeeded else {
                return (.conflict, OperatorReply(
                    ok: false, message: "\(subject) failed again: \(resolution.reason ?? "?"); still parked after \(resolution.attempts) attempts",
                    compensation: resolution))
            }
            let emitted = resolution.emitted.isEmpty ? "nothing" : resolution.emitted.joined(separator: ", ")
            return (.ok, OperatorReply(ok: true, message: "\(subject) \(resolution.outcome) by \(request.actor); emitted \(emitted)", compensation: resolution))
        }
    }

    /// Checks the token, decodes the body, runs the action, and answers JSON; a database or broker failure is a
    /// 503 with one line, logged without the request's values.
    private func handle(
        _ request: Request, _ action: @Sendable (OperatorRequest) async throws -> (HTTPResponse.Status, OperatorReply)
    ) async -> Response {
        guard let access else {
            return Self.reply(.forbidden, OperatorReply(ok: false, message: "actions are off in the \(service) service (run --allow-actions)"))
        }
        guard access.admits(authorization: request.headers[.authorization]) else {
            return Self.reply(.forbidden, OperatorReply(ok: false, message: "a valid bearer token is required"))
        }
        var decoded: OperatorRequest
        do {
            let body = try await request.body.collect(upTo: 64 * 1024)
            decoded = try JSONDecoder().decode(OperatorRequest.self, from: Data(body.readableBytesView))
        } catch {
            return Self.reply(.badRequest, OperatorReply(ok: false, message: "the body is not an operator request (JSON, at most 64 KiB)"))
        }
        guard !decoded.actor.trimmingCharacters(in: .whitespaces).isEmpty, decoded.actor.utf8.count <= 200,
              !decoded.actor.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
              (decoded.requestID?.utf8.count ?? 0) <= 200 else {
            return Self.reply(.badRequest, OperatorReply(ok: false, message: "actor must be 1 to 200 bytes without control characters, request_id at most 200"))
        }
        // Whoever calls, the audit log says the action came over HTTP (`console:<name>`), apart from the commands'.
        if !decoded.actor.hasPrefix(Self.actorPrefix) { decoded.actor = Self.actorPrefix + decoded.actor }
        do {
            let (status, reply) = try await action(decoded)
            return Self.reply(status, reply)
        } catch {
            logger.warning("operator action \(request.uri.path) failed: \(CommandRunner.oneLine(PGConfig.redact("\(error)")))")
            return Self.reply(.serviceUnavailable, OperatorReply(ok: false, message: "the \(service) service could not act now: \(CommandRunner.oneLine(PGConfig.redact("\(error)")))"))
        }
    }

    static func reply(_ status: HTTPResponse.Status, _ reply: OperatorReply) -> Response {
        let body = (try? JSONOutput.string(reply)) ?? "{}"
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
