import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import OrderSagaTestSupport
import Testing
import TestSupport

/// Issue 17's traces and joined logs, against the real stack: the four service binaries export their spans with
/// OTLP/HTTP (JSON) to a receiver in this test, the demo's ORD-2002 runs (reserved, captured, confirmation failed,
/// refunded, released: compensated), and its spans must form one trace with the structure SagaTracing describes.
@Suite("Traces", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(4)))
struct TraceExportTests {
    static let binaries: Set<String> = ["inventory-service", "payment-service", "notification-service", "saga-tracker"]

    @Test("ORD-2002 is one trace across the four processes: intake, publishes, processes and compensations, linked parent to child, with the saga id; its log lines name that trace")
    func compensatedSagaIsOneTrace() async throws {
        try await OTLPReceiver.with { receiver in
            let otel = [
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                "OTEL_BSP_SCHEDULE_DELAY": "200", "SAGAKIT_LOG_FORMAT": "json",
            ]
            try await SagaCluster.with { cluster in
                try await cluster.startAll(environment: otel)
                try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "10"])
                // The intake, as a customer's order arrives: the saga-tracker CLI, exporting its span before it exits.
                let started = try await ChildProcess.run(
                    TestEnvironment.executable("saga-tracker"),
                    ["start", "--order-id", "ORD-2002", "--sku", "demo-widget", "--quantity", "1", "--amount", "59.99", "--email", "buyer@example.com"],
                    environment: cluster.environment(for: .tracker, extra: otel))
                #expect(started.contains("accepted: saga ORD-2002"))
                let states = try await cluster.waitForTerminal(["ORD-2002"], timeout: .seconds(60))
                #expect(states["ORD-2002"] == "compensated")

                // Everything the saga did has been exported once the tracker's span for its last event has, and every
                // span's parent has arrived too (the exporters flush every 200 ms, each on its own schedule).
                let spans = try await eventually("ORD-2002's spans from every process", timeout: .seconds(60), every: .milliseconds(250)) {
                    let trace = receiver.spans.filter { $0.attributes["saga.id"] == "ORD-2002" }
                    let ids = Set(receiver.spans.map(\.spanID))
                    let complete = Self.binaries.isSubset(of: Set(trace.map(\.service)))
                        && trace.contains { $0.name == "compensate refund_payment" }
                        && trace.contains { $0.name == "compensate release_inventory" }
                        && trace.contains { $0.service == "saga-tracker" && $0.kind == .consumer && $0.attributes["saga.event_type"] == "InventoryReleased" }
                        && trace.allSatisfy { $0.parentSpanID.map(ids.contains) ?? true }
                    return complete ? trace : nil
                }
                try Self.checkStructure(spans, all: receiver.spans)
                if ProcessInfo.processInfo.environment["SAGAKIT_DUMP_SPANS"] != nil { Self.dump(spans) }

                // Logs join up: every line about one of its events names the saga, the event and the trace.
                let traceID = spans[0].traceID
                var handled = 0
                for process in cluster.allProcesses {
                    for line in process.output.split(separator: "\n") where line.contains(#""saga_id":"ORD-2002""#) {
                        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                            Issue.record("\(process.label): not a JSON line: \(line)")
                            continue
                        }
                        #expect(object["trace_id"] as? String == traceID, "\(process.label): \(line)")
                        #expect((object["event_id"] as? String)?.isEmpty == false, "\(process.label): \(line)")
                        if object["msg"] as? String == "event handled" { handled += 1 }
                    }
                }
                // A retried attempt's span ends in an error and logs no line; every committed one logs one.
                #expect(handled == spans.filter { $0.kind == .consumer && $0.statusCode != 2 }.count, "one 'event handled' line per committed process span")
            }
        }
    }

    /// One trace id; one root, the intake; every publish the child of what emitted its event; every process the
    /// child of its event's publish; the compensations children of the process spans that performed them.
    static func checkStructure(_ spans: [CollectedSpan], all: [CollectedSpan]) throws {
        let byID = Dictionary(all.map { ($0.spanID, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(Set(spans.map(\.traceID)).count == 1, "one trace id: \(Set(spans.map(\.traceID)))")
        #expect(Set(spans.map(\.service)) == binaries)

        let roots = spans.filter { $0.parentSpanID == nil }
        #expect(roots.map(\.name) == ["start saga"] && roots.first?.service == "saga-tracker", "the intake is the only root: \(roots)")
        let root = try #require(roots.first)
        #expect(root.attributes["saga.event_type"] == "OrderPlaced")

        let publishes = spans.filter { $0.name.hasPrefix("publish ") }
        let processes = spans.filter { $0.name.hasPrefix("process ") }
        // Each of the saga's six events published at least once (a relay may publish twice; the inboxes absorb it).
        #expect(Set(publishes.compactMap { $0.attributes["saga.event_type"] }) == [
            "OrderPlaced", "InventoryReserved", "PaymentCaptured", "ConfirmationFailed", "PaymentRefunded", "InventoryReleased",
        ])
        for publish in publishes {
            #expect(publish.kind == .producer)
            #expect(publish.attributes["messaging.system"] == "kafka")
            #expect(publish.attributes["messaging.destination.name"] == publish.name.dropFirst("publish ".count).description)
            if publish.statusCode != 2 {
                #expect(publish.attributes["messaging.kafka.destination.partition"] != nil && publish.attributes["messaging.kafka.message.offset"] != nil)
            }
            let parent = try #require(publish.parentSpanID.flatMap { byID[$0] }, "\(publish)")
            if publish.attributes["saga.event_type"] == "OrderPlaced" {
                #expect(parent.spanID == root.spanID, "OrderPlaced's publish is the intake's child")
            } else {
                #expect(parent.kind == .consumer && parent.service == publish.service, "\(publish.name) is the child of the process span that emitted it")
            }
        }
        for process in processes {
            #expect(process.kind == .consumer)
            for key in ["saga.event_id", "saga.event_type", "messaging.destination.name", "messaging.kafka.destination.partition", "messaging.kafka.message.offset"] {
                #expect(process.attributes[key] != nil, "\(process.name) in \(process.service) has \(key)")
            }
            let parent = try #require(process.parentSpanID.flatMap { byID[$0] }, "\(process)")
            #expect(parent.name.hasPrefix("publish ") && parent.attributes["saga.event_id"] == process.attributes["saga.event_id"],
                    "\(process.name) in \(process.service) is the child of its event's publish")
        }
        // The tracker sees every event; the participants the ones they handle.
        #expect(processes.filter { $0.service == "saga-tracker" }.count >= 6)

        for (name, service, trigger) in [("refund_payment", "payment-service", "ConfirmationFailed"), ("release_inventory", "inventory-service", "PaymentRefunded")] {
            let compensation = try #require(spans.first { $0.name == "compensate \(name)" })
            #expect(compensation.service == service)
            let parent = try #require(compensation.parentSpanID.flatMap { byID[$0] })
            #expect(parent.kind == .consumer && parent.service == service && parent.attributes["saga.event_type"] == trigger)
            #expect(parent.attributes["saga.compensation"] == name)
            #expect(compensation.statusCode != 2 && parent.statusCode != 2, "the compensation committed")
        }
        // Each event was applied (the span of an attempt that was rolled back and retried ends in an error, but the
        // last attempt of every event committed).
        for event in Set(processes.compactMap { $0.attributes["saga.event_id"] }) {
            #expect(processes.contains { $0.attributes["saga.event_id"] == event && $0.statusCode != 2 }, "event \(event) committed somewhere")
        }
    }
}

extension TraceExportTests {
    /// The trace as a tree, for a reader (`SAGAKIT_DUMP_SPANS=1`).
    static func dump(_ spans: [CollectedSpan]) {
        let children = Dictionary(grouping: spans, by: { $0.parentSpanID ?? "" })
        func show(_ span: CollectedSpan, _ depth: Int) {
            let what = [span.attributes["saga.event_type"], span.attributes["saga.outcome"], span.attributes["saga.compensation"]].compactMap { $0 }
            print(String(repeating: "  ", count: depth) + "\(span.name) [\(span.service), \(span.kind)] \(what.joined(separator: " "))\(span.statusCode == 2 ? " ERROR" : "")")
            for child in (children[span.spanID] ?? []).sorted(by: { $0.name < $1.name }) { show(child, depth + 1) }
        }
        for root in children[""] ?? [] { show(root, 0) }
    }
}

// MARK: - A test OTLP/HTTP receiver

/// One span as the receiver decoded it.
struct CollectedSpan: Sendable, CustomStringConvertible {
    enum Kind: Int, Sendable { case unspecified = 0, `internal`, server, client, producer, consumer }

    var service: String
    var traceID: String
    var spanID: String
    /// Nil for a root span.
    var parentSpanID: String?
    var name: String
    var kind: Kind
    var attributes: [String: String]
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    var statusCode: Int

    var description: String { "\(service) \(name) [\(spanID) parent \(parentSpanID ?? "none")] \(attributes)" }
}

/// Accepts `POST /v1/traces` in OTLP/HTTP's JSON encoding on a free loopback port and keeps every span.
final class OTLPReceiver: Sendable {
    private let collected = Mutex<[CollectedSpan]>([])
    private let port = Mutex<Int?>(nil)

    var spans: [CollectedSpan] { collected.withLock { $0 } }
    var endpoint: String { "http://127.0.0.1:\(port.withLock { $0 } ?? 0)" }

    /// Runs `body` with a receiver listening, and stops it afterwards.
    static func with<T>(_ body: (OTLPReceiver) async throws -> T) async throws -> T {
        let receiver = OTLPReceiver()
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let buffer = try await request.body.collect(upTo: 64 << 20)
            receiver.ingest(Data(buffer.readableBytesView))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        }
        var logger = Logger(label: "otlp-receiver")
        logger.logLevel = .warning
        let application = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in receiver.port.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [application], logger: logger))
        let server = Task { try await group.run() }
        let result: Result<T, any Error>
        do {
            _ = try await eventually("the OTLP receiver listening", timeout: .seconds(10), every: .milliseconds(20)) { receiver.port.withLock { $0 } }
            result = .success(try await body(receiver))
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        try? await server.value
        if case .failure = result {
            // What arrived, for the failure's reader.
            for span in receiver.spans { print("span: \(span)") }
        }
        return try result.get()
    }

    /// An `ExportTraceServiceRequest` in JSON: resource spans, their `service.name`, their scopes' spans.
    private func ingest(_ body: Data) {
        guard let request = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return }
        var spans: [CollectedSpan] = []
        for resourceSpans in request["resourceSpans"] as? [[String: Any]] ?? [] {
            let resource = Self.attributes((resourceSpans["resource"] as? [String: Any])?["attributes"])
            for scopeSpans in resourceSpans["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scopeSpans["spans"] as? [[String: Any]] ?? [] {
                    let parent = Self.id(span["parentSpanId"])
                    spans.append(CollectedSpan(
                        service: resource["service.name"] ?? "", traceID: Self.id(span["traceId"]) ?? "", spanID: Self.id(span["spanId"]) ?? "",
                        parentSpanID: parent?.isEmpty == false ? parent : nil, name: span["name"] as? String ?? "",
                        kind: CollectedSpan.Kind(rawValue: Self.int(span["kind"])) ?? .unspecified,
                        attributes: Self.attributes(span["attributes"]),
                        statusCode: Self.int((span["status"] as? [String: Any])?["code"])))
                }
            }
        }
        collected.withLock { $0 += spans }
    }

    /// OTLP's JSON wants ids in hex; swift-otel's protobuf JSON encoder writes bytes fields in base64. Either reads.
    static func id(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        if (text.count == 32 || text.count == 16), text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func int(_ value: Any?) -> Int {
        if let number = value as? Int { return number }
        if let text = value as? String { return Int(text) ?? 0 }
        return 0
    }

    /// `[{key, value: {stringValue | intValue | boolValue | doubleValue}}]` as text.
    static func attributes(_ value: Any?) -> [String: String] {
        var attributes: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any], let first = value.first else { continue }
            attributes[key] = "\(first.value)"
        }
        return attributes
    }
}
