import ArgumentParser
import Console
import Foundation
import Hummingbird
import Logging
import PGClient
import SagaKit
import SagaKitService
import ServiceLifecycle
import UnixSignals
import Tracker

extension Tracker: CommandLineParticipant {
    public typealias Options = TrackerOptions

    /// `run` serves the console beside `/metrics` and the health checks.
    public static func httpRoutes(options: TrackerOptions, database: PGConfig, access: OperatorAccess?, logger: Logger) throws -> HTTPRoutes {
        let console = Console(
            database: database, actions: access.map { ConsoleActions(access: $0) }, hosts: try options.consoleHosts(), logger: logger)
        return { router in console.mount(on: router) }
    }
}

/// `saga-tracker serve`: the console alone, for a machine that should show sagas without projecting them.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the operator console (and /metrics and the health checks) without consuming or relaying.",
        discussion: """
            The console reads the projection that `saga-tracker run` keeps: sagas by state, time and id prefix; one \
            saga's timeline as a waterfall; stuck sagas; stats. `run` serves the same pages on its own address. \
            Every page has a JSON twin under /api in the shapes of the CLI's --json. Read-only unless \
            --allow-actions (with SAGAKIT_CONSOLE_TOKEN): then dead letters can be redriven and parked compensations \
            retried or skipped, each by the service that owns it, reached at <SERVICE>_HTTP_URL (default: its \
            loopback port), which must run with --allow-actions and the same token.
            """)

    @OptionGroup var database: DatabaseOptions<Tracker>
    @OptionGroup var http: HTTPOptions<Tracker>
    @OptionGroup var operatorOptions: OperatorOptions
    @OptionGroup var tracker: TrackerOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger(label: Tracker.name)
        guard let address = try http.address() else { throw ValidationError("--http-address off: serve has nothing to do without an address") }
        try ObservabilityServer.checkAvailable(address)
        let registry = try http.metricsEnabled() ? PrometheusMetrics.bootstrap() : nil
        let db = try database.config()
        let access = try operatorOptions.access()
        if access != nil { logger.notice("console actions: on (--allow-actions)") }
        let routes = try Tracker.httpRoutes(options: tracker, database: db, access: access, logger: logger)
        let server = ObservabilityServer(address: address, registry: registry, health: ServiceHealth(), database: db, logger: logger, routes: routes)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [ServiceGroupConfiguration.ServiceConfiguration(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
