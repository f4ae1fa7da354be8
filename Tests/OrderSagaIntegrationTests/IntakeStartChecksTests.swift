import Foundation
import Testing
import TestSupport

/// What the intake refuses, through the real `saga-tracker start`: the binary refuses a bad value before it connects
/// to anything. IntakeChecksTests holds the pure checks.
@Suite("Intake checks: saga-tracker start")
struct IntakeStartChecksTests {
    @Test("saga-tracker start with a bad value exits 2 with one line naming the option, before connecting to anything")
    func startRefusesBadValues() async throws {
        let valid = ["--order-id": "ORD-CHECK", "--sku": "demo-widget", "--quantity": "1", "--amount": "59.99", "--email": "buyer@example.com"]
        let cases: [(option: String, value: String, says: String)] = [
            ("--amount", "92233720368547758.99", "--amount"),
            ("--amount", "-92233720368547758.99", "--amount"),
            ("--amount", "--5", "--amount"),
            ("--amount", "+5", "--amount"),
            ("--amount", "0", "--amount must be positive"),
            ("--amount", "-5", "--amount must be positive"),
            ("--amount", "1000000.01", "--amount must be at most 1000000.00"),
            ("--quantity", "0", "--quantity"),
            ("--quantity", "-3", "--quantity"),
            ("--quantity", "3000000000", "--quantity"),
            ("--order-id", "ORD\u{7}BEL", "--order-id must not contain control characters"),
            ("--order-id", "ORD\u{85}NEL", "--order-id must not contain control characters"),
            ("--sku", "w\u{1B}[2J", "--sku must not contain control characters"),
            ("--email", "not an address", "--email"),
            ("--email", "buyer@localhost", "--email"),
            ("--email", "buyer@example.com\u{7}", "--email"),
        ]
        for bad in cases {
            var options = valid
            options[bad.option] = bad.value
            // `--option=value`: a value starting with `-` is read as the option's value, as a user would type it.
            let arguments = ["start"] + options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            // No database: the checks run before anything connects.
            let child = try ChildProcess.start(TestEnvironment.executable("saga-tracker"), arguments,
                                               environment: ["TRACKER_DATABASE_URL": "postgresql://nobody@/nowhere?host=/nonexistent"])
            let exit = try await child.waitForExit(timeout: .seconds(30))
            let lines = child.output.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
            #expect(exit.status == 2 && !exit.signaled, "\(bad.option)=\(bad.value.debugDescription) exits 2, got \(exit)")
            #expect(lines.count == 1, "one line for \(bad.option)=\(bad.value.debugDescription): \(child.output)")
            #expect(lines.first?.hasPrefix("saga-tracker: ") == true && lines.first?.contains(bad.says) == true,
                    "\(bad.option)=\(bad.value.debugDescription): \(child.output)")
            if bad.option == "--email" {
                #expect(!child.output.contains(bad.value), "the address is not echoed")
            }
        }
    }
}
