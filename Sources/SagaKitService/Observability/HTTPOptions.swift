import ArgumentParser
import SagaKit

/// `--http-address`: where `run` serves `/metrics` and the health endpoints. Loopback by default, on a port per
/// service, so a process is scrapeable without exposing anything; `off` serves nothing.
public struct HTTPOptions<Service: SagaParticipant>: ParsableArguments {
    @Option(help: ArgumentHelp(
        "host:port for /metrics, /health/live and /health/ready, or 'off'. [env: \(Self.variable), SAGAKIT_HTTP_ADDRESS] (default: 127.0.0.1:\(HTTPAddress.defaultPort(for: Service.name)))",
        discussion: "Port 0 picks a free port (logged at start). Bind beyond loopback (0.0.0.0:PORT) only where the network is trusted: the endpoints have no authentication.",
        valueName: "host:port"))
    public var httpAddress: String?

    @Flag(help: ArgumentHelp(
        "Record no metrics and serve no /metrics (the health endpoints stay). [env: SAGAKIT_METRICS=off]",
        discussion: "For measuring what the metrics cost; swift-metrics then uses its no-op backend."))
    public var noMetrics = false

    public init() {}

    static var variable: String { "\(Service.name.uppercased())_HTTP_ADDRESS" }
    static var metricsVariable: String { "SAGAKIT_METRICS" }

    public func validate() throws {
        _ = try address()
        _ = try metricsEnabled()
    }

    /// Whether to bootstrap the Prometheus backend and serve `/metrics`: on unless `--no-metrics` or
    /// `SAGAKIT_METRICS=off`.
    public func metricsEnabled() throws -> Bool {
        if noMetrics { return false }
        switch Environment.value(Self.metricsVariable)?.lowercased() {
        case nil, "on": return true
        case "off": return false
        case let other?: throw ValidationError("\(Self.metricsVariable): '\(other)' is neither 'on' nor 'off'")
        }
    }

    /// The address to serve on; nil for `off`.
    public func address() throws -> HTTPAddress? {
        let (text, source) = httpAddress.map { ($0, "--http-address") }
            ?? Environment.value(Self.variable).map { ($0, Self.variable) }
            ?? Environment.value("SAGAKIT_HTTP_ADDRESS").map { ($0, "SAGAKIT_HTTP_ADDRESS") }
            ?? ("127.0.0.1:\(HTTPAddress.defaultPort(for: Service.name))", "default")
        if text == "off" { return nil }
        guard let address = HTTPAddress(text) else {
            throw ValidationError("\(source): '\(text)' is not host:port (e.g. 127.0.0.1:9471, [::1]:9471) or 'off'")
        }
        return address
    }
}

/// A host and a port, as `--http-address` takes them.
public struct HTTPAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// `host:port` or `[v6]:port`; the port 0–65535, the host non-empty and without spaces.
    public init?(_ text: String) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }),
              port.count <= 5, port.allSatisfy(\.isASCII), let number = Int(port), (0...65_535).contains(number) else { return nil }
        self.host = String(host)
        self.port = number
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Each service's default port, so the four run side by side on one host.
    public static func defaultPort(for service: String) -> Int {
        switch service {
        case "inventory": 9471
        case "payment": 9472
        case "notification": 9473
        case "tracker": 9474
        default: 9479
        }
    }
}
