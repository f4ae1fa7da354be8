import Foundation

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
