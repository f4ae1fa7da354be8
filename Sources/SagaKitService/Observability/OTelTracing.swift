import ArgumentParser
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// OpenTelemetry tracing, on only when the standard variables ask for it: with `OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set (and `OTEL_TRACES_EXPORTER` not `none`), spans are batched and exported
/// with OTLP/HTTP (`http/protobuf`, or `http/json` through `OTEL_EXPORTER_OTLP_PROTOCOL`); with nothing set, no
/// exporter runs and the tracer stays swift-distributed-tracing's no-op one. The other `OTEL_*` variables
/// (headers, sampler, batch sizes, resource attributes) apply as the OpenTelemetry specification says.
public enum OTelTracing {
    /// Whether the environment asks for trace export.
    public static func requested(_ environment: [String: String]) -> Bool {
        guard environment["OTEL_TRACES_EXPORTER"]?.lowercased() != "none", environment["OTEL_SDK_DISABLED"]?.lowercased() != "true" else { return false }
        return !(environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "").isEmpty || !(environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? "").isEmpty
    }

    /// Bootstraps the tracer and returns the service that exports its spans (run it first in the service group,
    /// so it stops last and flushes what the others ended); nil when tracing is off. `announce` is the level of the
    /// line saying so: a one-shot command (`saga-tracker start`) says it at debug.
    public static func bootstrap(
        serviceName: String, environment: [String: String], logger: Logger, announce: Logger.Level = .info
    ) throws -> (any Service)? {
        guard requested(environment) else { return nil }
        try checkSupported(environment)
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.diagnosticLogger = .custom(logger)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.log(level: announce, "tracing: exporting spans with OTLP/HTTP", metadata: ["service.name": .string(serviceName)])
        return backend.service
    }

    /// Refuses the standard values swift-otel cannot honour (the `baggage` propagator, the spec's own default with
    /// `tracecontext`; `grpc`, whose trait this package leaves out; the Jaeger and X-Ray samplers): it would end the
    /// process in `fatalError` with a stack trace, where a bad setting deserves one line and exit 2.
    static func checkSupported(_ environment: [String: String]) throws {
        func value(_ key: String) -> String? {
            let text = (environment[key] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            return text.isEmpty ? nil : text
        }
        for propagator in (value("OTEL_PROPAGATORS") ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
        where !propagator.isEmpty && !["tracecontext", "none"].contains(propagator) {
            throw ValidationError("OTEL_PROPAGATORS: '\(propagator)' is not supported; use tracecontext (SagaKit carries the W3C traceparent only)")
        }
        let samplers = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]
        if let sampler = value("OTEL_TRACES_SAMPLER"), !samplers.contains(sampler) {
            throw ValidationError("OTEL_TRACES_SAMPLER: '\(sampler)' is not supported; use one of \(samplers.joined(separator: ", "))")
        }
        // The traces key wins over the shared one (which logs and metrics, off here, would also read).
        let protocolKey = value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") != nil ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL"
        if let proto = value(protocolKey), !["http/protobuf", "http/json"].contains(proto) {
            throw ValidationError("\(protocolKey): '\(proto)' is not supported; use http/protobuf or http/json")
        }
    }

    /// Runs a one-shot command's `body` while `exporter` (from `bootstrap`) runs beside it, then shuts the exporter
    /// down, which exports every span `body` ended before this returns. Just `body` when tracing is off.
    public static func exporting<T>(_ exporter: (any Service)?, logger: Logger, _ body: () async throws -> T) async throws -> T {
        guard let exporter else { return try await body() }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [ServiceGroupConfiguration.ServiceConfiguration(service: exporter)], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result: Result<T, any Error>
            do {
                result = .success(try await body())
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            // An exporter that cannot reach its collector has logged why; the command's own outcome stands.
            try? await tasks.waitForAll()
            return try result.get()
        }
    }
}
