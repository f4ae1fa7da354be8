import Foundation
import Hummingbird
import Logging
import NIOCore
import PGClient
import Prometheus
import SagaKit
import ServiceLifecycle

/// The HTTP endpoint of a long-running process: `/metrics` (Prometheus text; absent when metrics are off),
/// `/health/live` (the process answers) and `/health/ready` (200 when the database answers, every consumer has
/// partitions and the relay knows the lease; 503 with the reasons otherwise). Later pages (the console) mount on
/// the same router.
public struct ObservabilityServer: Service {
    let address: HTTPAddress
    let application: Application<RouterResponder<BasicRequestContext>>

    /// `routes` adds a caller's own routes (the tracker's console) to the same server.
    public init(
        address: HTTPAddress, registry: PrometheusCollectorRegistry?, health: ServiceHealth, database: PGConfig?, logger: Logger,
        routes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) {
        self.address = address
        let router = Router()
        let probe = database.map { DatabaseProbe(config: $0, logger: logger) }
        // No registry: metrics are off, and /metrics answers 404 like any unknown path.
        if let registry {
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: PrometheusMetrics.render(registry))))
            }
        }
        router.get("/health/live") { _, _ in
            Self.json(.ok, ["status": "live"])
        }
        router.get("/health/ready") { _, _ in
            var reasons = health.notReadyReasons()
            if let probe, let failure = await probe.check() { reasons.insert("database: \(failure)", at: 0) }
            return Self.json(reasons.isEmpty ? .ok : .serviceUnavailable, [
                "status": reasons.isEmpty ? "ready" : "not_ready",
                "reasons": reasons,
                "partitions": health.assignedPartitions(),
                "relay_lease": health.lease?.rawValue ?? "none",
            ])
        }
        routes(router)
        var logger = logger
        logger[metadataKey: "component"] = "http"
        let bound = address
        application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [logger] channel in
                logger.notice("http: serving /metrics and /health on \(channel.localAddress.map { "\($0)" } ?? "\(bound)")")
            },
            logger: logger
        )
    }

    /// Fails, in one line, when `address` cannot be bound now (a port another process listens on, a host that
    /// is not this machine's): `run` asks before it migrates or logs anything, so that mistake is one line and
    /// exit 1 rather than a service that starts and then stops. Binds as the server will (SO_REUSEADDR) and
    /// lets go at once; the server's own bind still reports the rare port taken in between.
    public static func checkAvailable(_ address: HTTPAddress) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(address.host, String(address.port), &hints, &found)
        guard resolved == 0, let first = found else {
            throw CommandFailure("cannot serve HTTP on \(address): \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CommandFailure("cannot serve HTTP on \(address): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw CommandFailure("cannot serve HTTP on \(address): \(String(cString: strerror(errno)))")
        }
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch {
            throw CommandFailure("cannot serve HTTP on \(address): \(CommandRunner.oneLine("\(error)"))")
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ body: [String: any Sendable]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Asks the database for `SELECT 1` on a connection kept between checks (reconnecting when it broke), so a
/// readiness probe costs one round trip, not a connection.
struct DatabaseProbe {
    private let connection: PGReconnectingConnection

    init(config: PGConfig, logger: Logger) {
        var config = config
        config.connectTimeoutSeconds = 2
        connection = PGReconnectingConnection(config: config, logger: logger)
    }

    /// Nil when the database answered; else why not, in a few words (no connection string).
    func check() async -> String? {
        do {
            try await connection.with { _ = try await $0.query("SELECT 1") }
            return nil
        } catch {
            // Whatever failed, the next check starts from a new connection.
            await connection.reset()
            return "unreachable (\(CommandRunner.oneLine(PGConfig.redact("\(error)"))))"
        }
    }
}
