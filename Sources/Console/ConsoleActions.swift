import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SagaKitService

/// The console's actions (redrive, retry, skip), on only with `--allow-actions` and `SAGAKIT_CONSOLE_TOKEN`.
///
/// The console does not act itself: it holds no service's database role or broker principal. It forwards the
/// request, with the same bearer token, to `POST /operator/...` of the service that owns what is acted on, which
/// acts as its own command line would and writes its own audit log (docs/ARCHITECTURE.md, "Console").
public struct ConsoleActions: Sendable {
    let access: OperatorAccess
    let environment: [String: String]

    public init(access: OperatorAccess, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.access = access
        self.environment = environment
    }

    /// The services with a default loopback port; any other must have its `<SERVICE>_HTTP_URL` set.
    static let knownServices: Set<String> = ["inventory", "payment", "notification", "tracker"]

    /// The base URL of a service's HTTP endpoint: `<SERVICE>_HTTP_URL` (what `infra/dev env` prints), else a
    /// known service's default loopback port. Nil for anything else: the token goes only where an operator said.
    func baseURL(service: String) -> String? {
        guard !service.isEmpty, service.utf8.count <= 63, service.utf8.allSatisfy({ $0 == 0x2d || $0 == 0x5f || (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) })
        else { return nil }
        let variable = service.uppercased().replacingOccurrences(of: "-", with: "_") + "_HTTP_URL"
        if let url = environment[variable], !url.isEmpty { return url.hasSuffix("/") ? String(url.dropLast()) : url }
        return Self.knownServices.contains(service) ? "http://127.0.0.1:\(HTTPAddress.defaultPort(for: service))" : nil
    }

    private func variableHint(_ service: String) -> String {
        service.uppercased().replacingOccurrences(of: "-", with: "_") + "_HTTP_URL"
    }

    /// Sends `request` to `service`'s `path`; what the service answered, or a 502 saying why it could not be asked.
    func forward(_ request: OperatorRequest, to service: String, path: String) async -> (HTTPResponse.Status, OperatorReply) {
        guard let base = baseURL(service: service) else {
            return (.badRequest, OperatorReply(ok: false, message: "no address for service '\(service.prefix(63))': set its <SERVICE>_HTTP_URL"))
        }
        do {
            var outgoing = HTTPClientRequest(url: base + path)
            outgoing.method = .POST
            outgoing.headers.add(name: "Authorization", value: access.authorizationHeader)
            outgoing.headers.add(name: "Content-Type", value: "application/json")
            outgoing.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(request)))
            // Longer than a redrive can take in the service: reading its .dlq topics (up to 60 s), then the publish.
            let response = try await HTTPClient.shared.execute(outgoing, timeout: .seconds(90))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            let status = HTTPResponse.Status(code: Int(response.status.code))
            guard let reply = try? JSONDecoder().decode(OperatorReply.self, from: Data(body.readableBytesView)) else {
                return (.badGateway, OperatorReply(ok: false, message: "the \(service) service answered \(response.status.code) without an operator reply"))
            }
            return (status, reply)
        } catch {
            return (.badGateway, OperatorReply(ok: false, message: "the \(service) service did not answer (\(variableHint(service))): \(CommandRunner.oneLine("\(error)"))"))
        }
    }
}
