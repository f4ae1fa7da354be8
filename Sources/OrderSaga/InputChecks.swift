import SagaKit

/// Checks on what a customer or an operator types, shared by the intake and the services that act on it.
public enum InputChecks {
    /// A control character anywhere (`TextInput.hasControlCharacter`, which the event readers use too).
    public static func hasControlCharacter(_ text: String) -> Bool {
        TextInput.hasControlCharacter(text)
    }

    /// A plausible address, not a verified one: one `@` with a local part of 1 to 64 characters, a domain of at
    /// least two dot-separated labels none empty or starting or ending with `-`, no spaces or control characters,
    /// at most 254 bytes.
    public static func isPlausibleEmail(_ address: String) -> Bool {
        guard address.utf8.count <= 254, !address.contains(where: \.isWhitespace), !hasControlCharacter(address) else { return false }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64 else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty && !$0.hasPrefix("-") && !$0.hasSuffix("-") }
    }
}
