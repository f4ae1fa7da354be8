import Foundation
import OrderSaga
import SagaKit
import OrderSagaTestSupport
import Testing
import Tracker
import TestSupport

/// Issue 17's acceptance against the real stack: after the demo's four scenarios each process's `/metrics` parses
/// as Prometheus text (with the `prometheus_client` parser) and its counters say what happened; `/health/ready`
/// is 503 with a reason until the consumer has partitions, then 200; a bad `--http-address` and a taken port each
/// get one line and their exit code. (Readiness when PostgreSQL stops: `ObservabilityDisruptiveTests`.)
@Suite("Observability: /metrics after the demo, readiness, HTTP address errors", .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(5)))
struct ObservabilityTests {
    @Test("after the four scenarios every process's /metrics parses and counts exactly what happened")
    func metricsAfterTheDemo() async throws {
        try await SagaCluster.with { cluster in
            // Each process on a port of its own, known to the test.
            var ports: [SagaCluster.Service: Int] = [:]
            for service in SagaCluster.Service.allCases {
                let port = try HTTPProbe.freePort()
                ports[service] = port
                try await cluster.start(service, environment: ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(port)"], waitUntilReady: false)
            }
            for service in SagaCluster.Service.allCases {
                try await cluster.process(service).waitForOutput("partitions assigned", timeout: .seconds(60))
            }
            try await cluster.command(.inventory, ["stock", "set", "--sku", "demo-widget", "--available", "100"])
            // The demo's four scenarios, as `infra/dev demo` runs them.
            _ = try await SagaScenarioTests.start(cluster, "ORD-2001")
            _ = try await SagaScenarioTests.start(cluster, "ORD-2002")
            _ = try await SagaScenarioTests.start(cluster, "ORD-2003")
            _ = try await SagaScenarioTests.start(cluster, "ORD-2004", quantity: 101)
            let states = try await cluster.waitForTerminal(["ORD-2001", "ORD-2002", "ORD-2003", "ORD-2004"], timeout: .seconds(60))
            #expect(states == ["ORD-2001": "completed", "ORD-2002": "compensated", "ORD-2003": "compensated", "ORD-2004": "failed"])

            let topic = { (name: String) in cluster.topics(name) }
            // What each process must count, once everything settled: the domain counters (one refund, one
            // decline, three reservations, ...), every event each consumer applied and emitted, every row each
            // relay published, and the tracker's view.
            let expected: [SagaCluster.Service: [Sample: Double]] = [
                .inventory: [
                    Sample("inventory_reservations_total"): 3,
                    Sample("inventory_rejections_total"): 1,
                    Sample("inventory_releases_total"): 2,
                    Sample("inventory_release_failures_total"): 0,
                    // OrderPlaced ×4, PaymentDeclined, PaymentRefunded, ConfirmationSent.
                    Sample("sagakit_consumer_events_total", ["outcome": "applied"]): 7,
                    // PaymentCaptured ×2, ConfirmationFailed: no handler.
                    Sample("sagakit_consumer_events_total", ["outcome": "ignored"]): 3,
                    Sample("sagakit_consumer_events_total", ["outcome": "dead_lettered"]): 0,
                    Sample("sagakit_events_emitted_total", ["event_type": "InventoryReserved"]): 3,
                    Sample("sagakit_events_emitted_total", ["event_type": "InventoryRejected"]): 1,
                    Sample("sagakit_events_emitted_total", ["event_type": "InventoryReleased"]): 2,
                    Sample("sagakit_relay_published_total", ["topic": topic(OrderSagaTopics.inventory)]): 6,
                ],
                .payment: [
                    Sample("payment_charges_total"): 2,
                    Sample("payment_declines_total"): 1,
                    Sample("payment_refunds_total"): 1,
                    Sample("payment_refund_failures_total"): 0,
                    // InventoryReserved ×3, ConfirmationFailed.
                    Sample("sagakit_consumer_events_total", ["outcome": "applied"]): 4,
                    Sample("sagakit_consumer_events_total", ["outcome": "dead_lettered"]): 0,
                    Sample("sagakit_events_emitted_total"): 4,
                    Sample("sagakit_relay_published_total", ["topic": topic(OrderSagaTopics.payment)]): 4,
                ],
                .notification: [
                    Sample("notification_confirmations_sent_total"): 1,
                    Sample("notification_confirmations_failed_total"): 1,
                    // OrderPlaced ×4, PaymentCaptured ×2.
                    Sample("sagakit_consumer_events_total", ["outcome": "applied"]): 6,
                    Sample("sagakit_consumer_events_total", ["outcome": "dead_lettered"]): 0,
                    Sample("sagakit_relay_published_total", ["topic": topic(OrderSagaTopics.notification)]): 2,
                ],
                .tracker: [
                    Sample(TrackerMetrics.sagas, ["state": "completed"]): 1,
                    Sample(TrackerMetrics.sagas, ["state": "compensated"]): 2,
                    Sample(TrackerMetrics.sagas, ["state": "failed"]): 1,
                    Sample(TrackerMetrics.sagas, ["state": "running"]): 0,
                    Sample(TrackerMetrics.sagas, ["state": "compensating"]): 0,
                    Sample(TrackerMetrics.sagas, ["state": "compensation_failed"]): 0,
                    Sample(TrackerMetrics.stuck): 0,
                    Sample(TrackerMetrics.timeToTerminal + "_count", ["state": "completed"]): 1,
                    Sample(TrackerMetrics.timeToTerminal + "_count", ["state": "compensated"]): 2,
                    Sample(TrackerMetrics.timeToTerminal + "_count", ["state": "failed"]): 1,
                    Sample(TrackerMetrics.timeToTerminal + "_count", ["state": "compensation_failed"]): 0,
                    // Every event of the four sagas (its own OrderPlaced included, recorded again at no cost).
                    Sample("sagakit_consumer_events_total", ["outcome": "applied"]): 16,
                    Sample("sagakit_consumer_events_total", ["outcome": "dead_lettered"]): 0,
                    // The intake's four OrderPlaced.
                    Sample("sagakit_relay_published_total", ["topic": topic(OrderSagaTopics.orders)]): 4,
                ],
            ]
            // Every process: one relay, holding its lease; nothing pending; no relay error.
            let everywhere: [Sample: Double] = [
                Sample(SagaKitMetrics.relayLeaseHeld): 1,
                Sample(SagaKitMetrics.relayErrors): 0,
                Sample(SagaKitMetrics.relayParked): 0,
                Sample(SagaKitMetrics.outboxPendingRows): 0,
                Sample(SagaKitMetrics.deadLetterPublishFailures): 0,
            ]

            // Counters move after their transaction commits and the gauges are sampled every 5 s: wait until
            // every figure is there, then hold each to its exact value.
            var scraped: [SagaCluster.Service: Exposition] = [:]
            _ = try? await eventually("every process's metrics to settle", timeout: .seconds(45), every: .seconds(1)) { () -> Bool? in
                for service in SagaCluster.Service.allCases {
                    scraped[service] = try await Exposition.scrape(port: ports[service]!)
                }
                // The lag gauges appear with the first sample after a consumer's first fetch (every 5 s).
                let settled = SagaCluster.Service.allCases.allSatisfy { service in
                    expected[service]!.merging(everywhere) { $1 }.allSatisfy { scraped[service]!.value($0.key) == $0.value }
                        && scraped[service]!.families[SagaKitMetrics.consumerLag] != nil
                }
                return settled ? true : nil
            }
            for service in SagaCluster.Service.allCases {
                let exposition = try #require(scraped[service], "\(service) was scraped")
                for (sample, value) in expected[service]!.merging(everywhere, uniquingKeysWith: { $1 }).sorted(by: { $0.key.description < $1.key.description }) {
                    #expect(exposition.value(sample) == value, "\(service): \(sample)")
                }
                // Names the Prometheus way, each with its help text.
                for (name, family) in exposition.families {
                    #expect(!family.help.isEmpty, "\(service): \(name) has a # HELP line")
                    if family.type == "counter" { #expect(family.samples.allSatisfy { $0.name.hasSuffix("_total") }, "\(service): counter \(name) ends in _total") }
                }
                // Prometheus' own linter too (naming, help, histogram shape), where setup installed it.
                if ObservabilityFilesTests.promtool != nil {
                    let lint = try await ObservabilityFilesTests.promtool(["check", "metrics"], stdin: Data(exposition.text.utf8))
                    #expect(lint.status == 0 && lint.output.isEmpty, "\(service): promtool check metrics: \(lint.output)")
                }
                #expect(exposition.families[SagaKitMetrics.consumerLag]?.help.contains("high watermark") == true,
                        "\(service): the lag's help says how the local broker's high watermark skews it")
                #expect(exposition.families[SagaKitMetrics.consumerLag]?.type == "gauge", "\(service): \(exposition.families.keys.sorted())")
                #expect(exposition.families[SagaKitMetrics.consumerBatchDuration]?.type == "histogram", "\(service)")
                #expect(exposition.families[SagaKitMetrics.relayPublishDuration]?.type == "histogram", "\(service)")
                // Saga ids never become labels: a label per saga would grow without bound.
                for family in exposition.families.values {
                    for sample in family.samples {
                        #expect(!sample.labels.values.contains { $0.hasPrefix("ORD-") }, "\(service): \(sample.name) labelled by a saga id: \(sample.labels)")
                        // The scrape sets these; an exported one would be renamed `exported_<name>` under it.
                        #expect(Set(sample.labels.keys).isDisjoint(with: ["service", "job", "instance"]), "\(service): \(sample.name): \(sample.labels)")
                    }
                }
            }
            let tracker = try #require(scraped[.tracker])
            #expect(tracker.families[TrackerMetrics.timeToTerminal]?.type == "histogram")
            #expect((tracker.value(Sample(TrackerMetrics.timeToTerminal + "_sum")) ?? 0) > 0, "the sagas took some time")
        }
    }

    @Test("a dead letter's type label comes from its header only for a known event type: a forged one cannot mint series; the tracker counts them by refused_by")
    func deadLetterTypeLabelIsBounded() async throws {
        try await SagaCluster.with { cluster in
            let port = try HTTPProbe.freePort()
            try await cluster.start(.payment, environment: ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(port)"])
            let trackerPort = try HTTPProbe.freePort()
            try await cluster.start(.tracker, environment: ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(trackerPort)"])
            let forged = "Forged" + String(repeating: "x", count: 500)
            let topic = cluster.topics(OrderSagaTopics.inventory)
            try await KafkaOracle.produce(topic, key: "ORD-LABEL-1", value: "not json", headers: ["sagakit-event-type": forged])
            try await KafkaOracle.produce(topic, key: "ORD-LABEL-2", value: "not json", headers: ["sagakit-event-type": "InventoryReserved"])
            _ = try await KafkaOracle.waitForMessages(topic + DeadLetters.suffix, count: 2, timeout: .seconds(60))
            let metrics = try await eventually("payment's two dead letters in /metrics", timeout: .seconds(20), every: .milliseconds(200)) {
                let body = try await HTTPProbe.get(port: port, path: "/metrics").body
                let deadLettered = body.split(separator: "\n").filter { $0.hasPrefix("sagakit_consumer_events_total") && $0.contains("dead_lettered") }
                // Both counted (the dead letters can be on the topic a moment before the counter moves).
                return deadLettered.contains { $0.contains("type=\"unknown\"") } && deadLettered.contains { $0.contains("type=\"InventoryReserved\"") }
                    ? body : nil
            }
            #expect(!metrics.contains("Forged"))
            // The tracker records both under the refusing service, in a label the scrape does not set itself.
            let counted = "\(TrackerMetrics.deadLetters){refused_by=\"payment\"}"
            _ = try await eventually("the tracker's count of payment's dead letters", timeout: .seconds(30), every: .milliseconds(300)) {
                let body = try await HTTPProbe.get(port: trackerPort, path: "/metrics").body
                return body.split(separator: "\n").contains { $0.hasPrefix(counted + " ") && $0.split(separator: " ").last == "2" } ? body : nil
            }
        }
    }

    @Test("/health/ready: 503 naming the reason until the consumer has its partitions, 200 after; /health/live answers throughout")
    func readinessFollowsTheConsumer() async throws {
        try await SagaCluster.with { cluster in
            let port = try HTTPProbe.freePort()
            let address = ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(port)"]

            // A first start, polled from the moment the port answers.
            let first = try await cluster.start(.payment, environment: address, waitUntilReady: false)
            let firstAnswers = try await HTTPProbe.pollReadyUntilOK(port: port, process: first)
            // The 200 comes only once the log says the group gave the consumer its partitions.
            #expect(first.output.contains("partitions assigned"), "ready before the consumer had partitions:\n\(first.tail())")
            let live = try await HTTPProbe.get(port: port, path: "/health/live")
            #expect(live.status == 200 && live.body.contains("live"))
            #expect(firstAnswers.dropLast().allSatisfy { $0.status == 503 && !$0.reasons.isEmpty }, "\(firstAnswers)")

            // Killed and started again: the group waits for the dead member's session to expire before it gives
            // the new one partitions (seconds, not milliseconds), so the new process surely answers 503 first.
            first.kill9()
            _ = try await first.waitForExit()
            let second = try await cluster.start(.payment, environment: address, waitUntilReady: false)
            let answers = try await HTTPProbe.pollReadyUntilOK(port: port, process: second)
            let notReady = answers.filter { $0.status == 503 }
            #expect(answers.first?.status == 503, "the first answer after the restart: \(answers.first.map { "\($0)" } ?? "none")")
            #expect(answers.last?.status == 200)
            #expect(answers.drop(while: { $0.status == 503 }).allSatisfy { $0.status == 200 }, "503 until ready, 200 from then on: \(answers)")
            #expect(!notReady.isEmpty && notReady.allSatisfy { answer in
                answer.body.contains("\"not_ready\"") && answer.reasons.contains { $0.hasPrefix("consumer saga:") || $0.hasPrefix("relay:") }
            }, "each 503 names its reason: \(notReady)")
            #expect(notReady.contains { $0.reasons.contains { $0.hasPrefix("consumer saga:") } }, "the consumer without partitions is named: \(notReady)")
            #expect(second.output.contains("partitions assigned"))
            let ready = try #require(answers.last)
            #expect(ready.body.contains("\"ready\"") && ready.reasons.isEmpty, "\(ready)")
        }
    }

    @Test("a bad --http-address, max amount, lease, retention, tracing, crash-point or sender setting is a usage error (one line, exit 2); a taken port fails the run (one line, exit 1)")
    func httpAddressErrors() async throws {
        try await SagaCluster.with { cluster in
            for (service, arguments, environment, source) in [
                (SagaCluster.Service.payment, ["--http-address", "nonsense"], [String: String](), "--http-address"),
                (.payment, ["--http-address", "127.0.0.1:70000"], [:], "--http-address"),
                (.payment, [], ["PAYMENT_HTTP_ADDRESS": "localhost"], "PAYMENT_HTTP_ADDRESS"),
                (.payment, [], ["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:port"], "SAGAKIT_HTTP_ADDRESS"),
                // Each of these used to start: to decline every order, trap on the first relay cycle, empty the
                // inbox at each maintenance, or die in swift-otel's fatalError with a stack trace.
                (.payment, ["--max-amount", "0"], [:], "--max-amount"),
                (.payment, [], ["PAYMENT_MAX_AMOUNT": "0"], "PAYMENT_MAX_AMOUNT"),
                (.payment, ["--lease-seconds", "10000000000000000"], [:], "--lease-seconds"),
                (.payment, ["--inbox-retention-hours", "0"], [:], "--inbox-retention-hours"),
                (.payment, ["--kafka-property", "sasl.password hunter2"], [:], "--kafka-property"),
                (.payment, [], ["SAGAKIT_KAFKA_PROPERTIES": "linger.ms=5;novalue"], "SAGAKIT_KAFKA_PROPERTIES"),
                (.payment, [], ["SAGAKIT_LOG_LEVEL": "verbose"], "SAGAKIT_LOG_LEVEL"),
                (.payment, [], ["SAGAKIT_LOG_FORMAT": "xml"], "SAGAKIT_LOG_FORMAT"),
                (.payment, [], ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_PROPAGATORS": "tracecontext,baggage"], "OTEL_PROPAGATORS"),
                // Test settings: a misspelt one used to exit 1 with a type's name, or run on a random seed.
                (.payment, [], ["SAGAKIT_CRASH_POINTS": "bogus"], "SAGAKIT_CRASH_POINTS"),
                (.payment, [], ["SAGAKIT_CRASH_POINTS": "relay.after_ack_before_mark:@5", "SAGAKIT_CRASH_SEED": "seven"], "SAGAKIT_CRASH_SEED"),
                // Notification's sender settings: a value that is not a count used to be ignored (no failures).
                (.notification, ["--sender-failures", "-1"], [:], "--sender-failures"),
                (.notification, [], ["NOTIFICATION_SENDER_FAILURES": "abc"], "NOTIFICATION_SENDER_FAILURES"),
                (.notification, ["--sender-attempts", "0"], [:], "--sender-attempts"),
            ] {
                let run = try ChildProcess.start(TestEnvironment.executable(service.binary), ["run"] + arguments,
                                                 environment: cluster.environment(for: service, extra: environment), label: "\(service.rawValue)-bad-setting")
                let exit = try await run.waitForExit(timeout: .seconds(30))
                let lines = run.output.split(separator: "\n")
                #expect(exit.status == 2 && !exit.signaled, "\(service) \(arguments) \(environment): \(run.output)")
                #expect(lines.count == 1 && lines[0].contains(source), "one line naming \(source): \(run.output)")
                #expect(!run.output.contains("hunter2"))
            }
            // Beyond the stock column's 32 bits: a usage error, not PostgreSQL's "integer out of range" (exit 1).
            let stock = try ChildProcess.start(TestEnvironment.executable("inventory-service"), ["stock", "set", "--sku", "w", "--available", "2147483648"],
                                               environment: cluster.environment(for: .inventory), label: "inventory-bad-stock")
            let stockExit = try await stock.waitForExit(timeout: .seconds(30))
            #expect(stockExit.status == 2 && stock.output.split(separator: "\n").count == 1, "\(stock.output)")

            // A port something already listens on.
            let (listener, port) = try HTTPProbe.listen()
            defer { close(listener) }
            let taken = try ChildProcess.start(TestEnvironment.executable("payment-service"), ["run", "--http-address", "127.0.0.1:\(port)"],
                                               environment: cluster.environment(for: .payment), label: "payment-taken-port")
            let exit = try await taken.waitForExit(timeout: .seconds(60))
            let lines = taken.output.split(separator: "\n")
            #expect(exit.status == 1 && !exit.signaled, "\(taken.output)")
            #expect(lines.count == 1 && lines[0].contains("127.0.0.1:\(port)"), "one line naming the address: \(taken.output)")
        }
    }

    @Test("--no-metrics and SAGAKIT_METRICS=off serve no /metrics, the health endpoints stay; another value is a usage error")
    func metricsOff() async throws {
        try await SagaCluster.with { cluster in
            for (arguments, environment) in [(["--no-metrics"], [String: String]()), ([], ["SAGAKIT_METRICS": "off"])] {
                let port = try HTTPProbe.freePort()
                let process = try await cluster.start(.payment, arguments: arguments,
                                                      environment: environment.merging(["SAGAKIT_HTTP_ADDRESS": "127.0.0.1:\(port)"]) { $1 })
                _ = try await HTTPProbe.pollReadyUntilOK(port: port, process: process)
                #expect(try await HTTPProbe.get(port: port, path: "/metrics").status == 404, "\(arguments) \(environment)")
                #expect(try await HTTPProbe.get(port: port, path: "/health/live").status == 200)
                #expect(process.output.contains("metrics: off"))
                try await cluster.stop(.payment)
            }
            let bad = try ChildProcess.start(TestEnvironment.executable("payment-service"), ["run"],
                                             environment: cluster.environment(for: .payment, extra: ["SAGAKIT_METRICS": "no"]), label: "payment-bad-metrics")
            let exit = try await bad.waitForExit(timeout: .seconds(30))
            #expect(exit.status == 2 && bad.output.split(separator: "\n").count == 1 && bad.output.contains("SAGAKIT_METRICS"), "\(bad.output)")
        }
    }
}

// MARK: - Reading /metrics with a real parser

/// A sample to look up: its name as exposed (`payment_refunds_total`, `..._count`) and the labels it must carry;
/// other labels are summed over.
struct Sample: Hashable, CustomStringConvertible {
    var name: String
    var labels: [String: String]

    init(_ name: String, _ labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }

    var description: String {
        labels.isEmpty ? name : "\(name){\(labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ","))}"
    }
}

/// One process's `/metrics`, parsed by Python's `prometheus_client` (`text_string_to_metric_families`), the
/// reference client's own parser: a malformed exposition fails the parse, and so the test.
struct Exposition {
    struct Family {
        var type: String
        var help: String
        var samples: [(name: String, labels: [String: String], value: Double)]
    }

    /// By the name in the `# TYPE` line (the parser drops a counter's `_total`; this keeps it).
    var families: [String: Family]
    /// The exposition as served.
    var text: String

    static let parser = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        text = sys.stdin.read()
        types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                types[name] = kind
        out = {}
        for family in text_string_to_metric_families(text):
            name = family.name + "_total" if family.type == "counter" and family.name + "_total" in types else family.name
            out[name] = {"type": family.type, "help": family.documentation,
                         "samples": [[s.name, s.labels, s.value] for s in family.samples]}
        print("PARSED " + json.dumps(out))
        """

    static func parse(_ text: String) async throws -> Exposition {
        let child = try ChildProcess.start(URL(fileURLWithPath: TestEnvironment.python), ["-c", parser], label: "prometheus-parse", stdin: Data(text.utf8))
        let exit = try await child.waitForExit(timeout: .seconds(30))
        guard exit.status == 0, let line = child.output.split(separator: "\n").last(where: { $0.hasPrefix("PARSED ") }) else {
            throw TimedOut(description: "prometheus_client could not parse the exposition (\(exit.status)):\n\(child.output)\n--- exposition ---\n\(text)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(line.dropFirst("PARSED ".count).utf8)) as? [String: [String: Any]] ?? [:]
        var families: [String: Family] = [:]
        for (name, family) in json {
            let samples = (family["samples"] as? [[Any]] ?? []).map { sample in
                (name: sample[0] as? String ?? "", labels: sample[1] as? [String: String] ?? [:], value: (sample[2] as? NSNumber)?.doubleValue ?? .nan)
            }
            families[name] = Family(type: family["type"] as? String ?? "", help: family["help"] as? String ?? "", samples: samples)
        }
        return Exposition(families: families, text: text)
    }

    static func scrape(port: Int) async throws -> Exposition {
        let response = try await HTTPProbe.get(port: port, path: "/metrics")
        guard response.status == 200 else { throw TimedOut(description: "GET /metrics on \(port): \(response.status)") }
        return try await parse(response.body)
    }

    /// Families with a label whose values are known only when they happen (`kind` of a relay error): made on
    /// first use, so absent until then.
    static let madeOnFirstUse: Set<String> = [SagaKitMetrics.relayErrors]

    /// The sum of the samples with that name and at least those labels; 0 for a family that exists without
    /// such a sample yet (a labelled counter made on first use), nil when the name is unknown.
    func value(_ sample: Sample) -> Double? {
        let all = families.values.flatMap(\.samples).filter { $0.name == sample.name }
        let matching = all.filter { candidate in sample.labels.allSatisfy { candidate.labels[$0.key] == $0.value } }
        if matching.isEmpty {
            return families[sample.name] != nil || !all.isEmpty || Self.madeOnFirstUse.contains(sample.name) ? 0 : nil
        }
        return matching.reduce(0) { $0 + $1.value }
    }
}

