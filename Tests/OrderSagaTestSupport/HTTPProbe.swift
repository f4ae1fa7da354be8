import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: - A small HTTP client and ports

/// Plain sockets, each call on a thread of its own (never the cooperative pool): enough HTTP/1.1 for the
/// endpoints, with no client library between the test and the server.
public enum HTTPProbe {
    public struct Response: CustomStringConvertible, Sendable {
        public var status: Int
        public var body: String

        /// `reasons` of a `/health/ready` body.
        public var reasons: [String] {
            ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["reasons"] as? [String] ?? []
        }

        public var description: String { "\(status) \(body)" }
    }

    public struct Refused: Error {}

    /// A port nothing listens on now (the kernel's pick for port 0).
    public static func freePort() throws -> Int {
        let (socket, port) = try listen()
        close(socket)
        return port
    }

    /// A socket listening on a free loopback port, and the port.
    public static func listen() throws -> (socket: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TimedOut(description: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                bind(fd, sockaddr, length) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, sockaddr, &length) == 0
            }
        }
        guard bound else { close(fd); throw TimedOut(description: "bind/listen on 127.0.0.1:0 failed: \(errno)") }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A GET; `headers` may replace the `Host` header (`127.0.0.1:<port>` by default).
    public static func get(port: Int, path: String, headers: [String: String] = [:]) async throws -> Response {
        try await request("GET", port: port, path: path, headers: headers)
    }

    /// A form post (`application/x-www-form-urlencoded`), with extra headers such as `Authorization`.
    public static func post(port: Int, path: String, form: [String: String], headers: [String: String] = [:]) async throws -> Response {
        let body = form.sorted { $0.key < $1.key }.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }.joined(separator: "&")
        let extra = headers.merging(["Content-Type": "application/x-www-form-urlencoded"]) { first, _ in first }
        return try await request("POST", port: port, path: path, headers: extra, body: body)
    }

    static func request(_ method: String, port: Int, path: String, headers: [String: String] = [:], body: String = "") async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try blockingRequest(method, port: port, path: path, headers: headers, body: body) })
            }
        }
    }

    private static func blockingRequest(_ method: String, port: Int, path: String, headers extra: [String: String], body requestBody: String) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TimedOut(description: "socket: \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw Refused() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(extra["Host"] ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n"
        for (name, value) in extra.sorted(by: { $0.key < $1.key }) where name != "Host" { head += "\(name): \(value)\r\n" }
        if method != "GET" { head += "Content-Length: \(requestBody.utf8.count)\r\n" }
        let request = Array((head + "\r\n" + requestBody).utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw Refused() }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 { throw TimedOut(description: "\(method) \(path) on \(port): recv failed (\(errno))") }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n"),
              let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap({ Int($0) }) else {
            throw TimedOut(description: "\(method) \(path) on \(port): not HTTP: \(text.prefix(200))")
        }
        let headers = text[..<headerEnd.lowerBound].lowercased()
        var body = String(text[headerEnd.upperBound...])
        if headers.contains("transfer-encoding: chunked") { body = dechunk(body) }
        return Response(status: status, body: body)
    }

    private static func dechunk(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        while let lineEnd = rest.range(of: "\r\n"), let size = Int(rest[..<lineEnd.lowerBound].split(separator: ";")[0], radix: 16), size > 0 {
            let start = lineEnd.upperBound
            let utf8 = rest.utf8
            let end = utf8.index(start, offsetBy: size, limitedBy: utf8.endIndex) ?? utf8.endIndex
            out += rest[start..<end]
            rest = rest[end...].dropFirst(2)
        }
        return out
    }

    /// Polls `/health/ready` from the moment the port accepts a connection until it answers 200; every answer
    /// in order. Fails if the process exits meanwhile.
    public static func pollReadyUntilOK(port: Int, process: ChildProcess, timeout: Duration = .seconds(90)) async throws -> [Response] {
        var answers: [Response] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TimedOut(description: "\(process.label) exited:\n\(process.tail())") }
            do {
                let answer = try await get(port: port, path: "/health/ready")
                answers.append(answer)
                if answer.status == 200 { return answers }
            } catch is Refused {
                // Not listening yet.
            }
            try await Task.sleep(for: .milliseconds(answers.isEmpty ? 20 : 100))
        }
        throw TimedOut(description: "/health/ready on \(port) never answered 200; answers: \(answers.suffix(5))\n\(process.tail())")
    }
}
