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
    /// so it stops last and flushes what the others ended); nil when tracing is off.
    public static func bootstrap(serviceName: String, environment: [String: String], logger: Logger) throws -> (any Service)? {
        guard requested(environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.diagnosticLogger = .custom(logger)
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("tracing: exporting spans with OTLP/HTTP", metadata: ["service.name": .string(serviceName)])
        return backend.service
    }
}
