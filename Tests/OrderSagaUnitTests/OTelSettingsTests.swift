import ArgumentParser
import Logging
@testable import SagaKitService
import Testing

/// OpenTelemetry settings swift-otel cannot honour end in its `fatalError`: refused first, in one line.
@Suite("OpenTelemetry settings")
struct OTelSettingsTests {
    static let endpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"]

    @Test("an unsupported propagator, protocol or sampler is a ValidationError (exit 2) naming the variable", arguments: [
        ("OTEL_PROPAGATORS", "tracecontext,baggage"),
        ("OTEL_PROPAGATORS", "b3"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_TRACES_SAMPLER", "xray"),
        ("OTEL_TRACES_SAMPLER", "parentbased_jaeger_remote"),
    ])
    func refused(_ key: String, _ value: String) throws {
        let environment = Self.endpoint.merging([key: value]) { $1 }
        let error = try #require(throws: ValidationError.self) {
            _ = try OTelTracing.bootstrap(serviceName: "test", environment: environment, logger: Logger(label: "otel-test"))
        }
        #expect(error.message.hasPrefix(key + ":"), "\(error.message)")
        #expect(!error.message.contains("\n"))
    }

    @Test("grpc as the shared protocol passes the check when the traces protocol says http/protobuf, which wins")
    func tracesProtocolWins() throws {
        let environment = Self.endpoint.merging(["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
                                                 "OTEL_PROPAGATORS": "tracecontext"]) { $1 }
        // Only the check: bootstrapping would install the process-wide tracer.
        try OTelTracing.checkSupported(environment)
    }

    @Test("with tracing off, nothing is checked and nothing starts")
    func offIgnoresSettings() throws {
        #expect(try OTelTracing.bootstrap(serviceName: "test", environment: ["OTEL_PROPAGATORS": "baggage"], logger: Logger(label: "otel-test")) == nil)
    }
}
