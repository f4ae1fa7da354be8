import Foundation

/// The host names the console answers for: its defence against DNS rebinding. A page on an attacker's domain can
/// point that domain at 127.0.0.1 and read a loopback console from the operator's own browser, which sends the
/// attacker's name in `Host`. So the console answers only a `Host` that no outside site controls: an IP address,
/// `localhost` (and names under it), and the names an operator lists (the proxy's public name, say). Other requests
/// get a 403 and no data. `/metrics`, the health checks and the services' operator endpoints are not the console's
/// and are left as they are (scrapers name their targets freely; the operator endpoints need the token).
public struct ConsoleHosts: Sendable, Hashable {
    /// Lowercased names. `.example.com` also admits every name under it; `*` admits any host.
    public var names: [String]

    public init(_ names: [String] = []) {
        self.names = names.map { Self.normalize($0) }.filter { !$0.isEmpty }
    }

    /// A comma-separated list (`console.example.com,.ops.example.com`), as the flag and the environment give it.
    /// A name with anything but letters, digits, `-`, `.`, or a lone `*` is a mistake, not a pattern.
    public static func parse(_ text: String) throws -> ConsoleHosts {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for name in names where name != "*" {
            let body = name.hasPrefix(".") ? name.dropFirst() : Substring(name)
            guard !body.isEmpty, body.utf8.count <= 253,
                  body.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }) else {
                throw ConsoleHostsError("not a host name: use names such as console.example.com or .example.com, separated by commas")
            }
        }
        return ConsoleHosts(names)
    }

    /// Whether a request whose `Host` header is `host` may be answered. No header at all (HTTP/1.0 tools; every
    /// browser sends one) is admitted.
    public func admits(host: String?) -> Bool {
        guard let host, !host.isEmpty else { return true }
        let name = Self.hostName(host)
        if name.isEmpty { return false }
        if Self.isIPAddress(name) || name == "localhost" || name.hasSuffix(".localhost") { return true }
        return names.contains { allowed in
            allowed == "*" || allowed == name || (allowed.hasPrefix(".") && (name.hasSuffix(allowed) || name == allowed.dropFirst()))
        }
    }

    /// The name without its port, lowercased, without a trailing dot; an IPv6 literal keeps its brackets.
    static func hostName(_ host: String) -> String {
        var text = Substring(host.trimmingCharacters(in: .whitespaces).lowercased())
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return "" }
            let port = text[text.index(after: close)...]
            guard port.isEmpty || (port.first == ":" && port.dropFirst().allSatisfy(\.isASCIIDigit)) else { return "" }
            return String(text[...close])
        }
        if let colon = text.lastIndex(of: ":") {
            guard text[text.index(after: colon)...].allSatisfy(\.isASCIIDigit) else { return "" }
            text = text[..<colon]
        }
        return normalize(String(text))
    }

    /// An IPv4 dotted quad or a bracketed IPv6 literal (a zone such as `%eth0` allowed), as the C library parses
    /// them: names no DNS answer can stand behind.
    static func isIPAddress(_ name: String) -> Bool {
        var address = in6_addr()
        guard name.hasPrefix("["), name.hasSuffix("]") else { return inet_pton(AF_INET, name, &address) == 1 }
        let literal = name.dropFirst().dropLast().split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return inet_pton(AF_INET6, String(literal), &address) == 1
    }

    private static func normalize(_ name: String) -> String {
        var name = name.trimmingCharacters(in: .whitespaces).lowercased()
        while name.hasSuffix(".") && name.count > 1 { name.removeLast() }
        return name
    }
}

/// A `--console-allowed-hosts` value that is not a list of host names.
public struct ConsoleHostsError: Error, CustomStringConvertible, Sendable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
