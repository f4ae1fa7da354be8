/// Checks on text that arrives from outside: events, command lines, forms.
public enum TextInput {
    /// A control character (Unicode general category Cc: C0, DEL, C1) anywhere. It has no business in an id, a name
    /// or an address, garbles logs and terminals, and a NUL would reach PostgreSQL cut short (libpq reads
    /// parameters as C strings).
    public static func hasControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}
