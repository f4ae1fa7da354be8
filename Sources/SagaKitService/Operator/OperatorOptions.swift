import ArgumentParser
import Foundation

/// `--allow-actions`: whether this process takes operator actions over HTTP (redrive, retry, skip), and the bearer
/// token they need. Off by default; the token comes only from the environment, never a flag, so it is not in `ps`.
public struct OperatorOptions: ParsableArguments {
    @Flag(help: ArgumentHelp(
        "Take operator actions over HTTP (dead-letter redrive, compensation retry and skip): the console's buttons and /operator. [env: SAGAKIT_ALLOW_ACTIONS=on]",
        discussion: "Needs SAGAKIT_CONSOLE_TOKEN (16 characters or more): every action must carry it as a bearer token. Without this flag actions answer 403."))
    public var allowActions = false

    public init() {}

    public static let allowVariable = "SAGAKIT_ALLOW_ACTIONS"
    public static let tokenVariable = "SAGAKIT_CONSOLE_TOKEN"

    public func validate() throws {
        _ = try access()
    }

    /// The access actions need; nil when actions are off.
    public func access(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OperatorAccess? {
        var allowed = allowActions
        switch environment[Self.allowVariable]?.lowercased() {
        case nil, "", "off": break
        case "on": allowed = true
        case let other?: throw ValidationError("\(Self.allowVariable): '\(other.prefix(40))' is neither 'on' nor 'off'")
        }
        guard allowed else { return nil }
        guard let token = environment[Self.tokenVariable], !token.isEmpty else {
            throw ValidationError("--allow-actions needs the bearer token in \(Self.tokenVariable)")
        }
        guard let access = OperatorAccess(token: token) else {
            throw ValidationError("\(Self.tokenVariable) must be 16 to 512 printable characters without spaces")
        }
        return access
    }
}

/// The bearer token operator actions carry, compared in constant time.
public struct OperatorAccess: Sendable {
    private let token: [UInt8]

    /// Nil for a token too short to resist guessing, too long, or with characters a header cannot carry.
    public init?(token: String) {
        let bytes = Array(token.utf8)
        guard (16...512).contains(bytes.count), bytes.allSatisfy({ (0x21...0x7e).contains($0) }) else { return nil }
        self.token = bytes
    }

    /// The `Authorization` header a client sends.
    public var authorizationHeader: String { "Bearer " + String(decoding: token, as: UTF8.self) }

    /// Whether `presented` (the header's `Bearer <token>`, or a bare token from a form) is this token.
    public func admits(authorization: String?) -> Bool {
        guard var presented = authorization else { return false }
        if presented.hasPrefix("Bearer ") { presented.removeFirst("Bearer ".count) }
        return Self.constantTimeEqual(Array(presented.utf8), token)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        // Length leaks, content does not: every byte of the longer one is looked at.
        var difference: UInt8 = a.count == b.count ? 0 : 1
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
