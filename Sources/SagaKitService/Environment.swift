import ArgumentParser
import Foundation
import SagaKit

/// Reads settings that a flag can also give: the flag wins, then the environment variable.
public enum Environment {
    public static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    public static func value(flag: String?, variable: String) -> String? {
        flag ?? value(variable)
    }
}

extension FaultMatcher {
    /// A participant's fault option (`--decline-orders`, ...): the flag's value, else the variable's, else none.
    /// A pattern it cannot use is a usage error (exit 2) in one line, naming the flag or the variable it came from.
    public static func resolve(flag: String?, option: String, variable: String) throws -> FaultMatcher {
        let (text, source) = flag.map { ($0, option) } ?? (Environment.value(variable) ?? "", variable)
        do {
            return try FaultMatcher(parsing: text)
        } catch {
            throw ValidationError("\(source): \(error.description)")
        }
    }
}

extension CrashPoint {
    /// `validateEnvironment` for a command: a bad crash-point setting is a usage error (exit 2), in one line.
    public static func checkEnvironment() throws {
        do {
            try validateEnvironment()
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
