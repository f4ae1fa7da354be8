import ArgumentParser
import SagaKit
import SagaKitService
import Testing

/// `run`'s tuning flags: a value that would overflow, stall the relay or empty the inbox is refused (exit 2).
@Suite("Runtime options")
struct RuntimeOptionsTests {
    @Test("out-of-range values are refused", arguments: [
        ["--lease-seconds", "10000000000000000"], ["--lease-seconds", "3601"], ["--lease-seconds", "0"],
        ["--outbox-retention-hours", "2562047788015216"], ["--inbox-retention-hours", "0"], ["--inbox-retention-hours", "-1"],
        ["--outbox-retention-hours", "87601"], ["--relay-poll-ms", "0"], ["--relay-linger-ms", "-1"], ["--relay-linger-ms", "60001"],
        ["--batch-size", "0"], ["--relay-batch-size", "100001"],
    ])
    func refused(_ arguments: [String]) {
        #expect(throws: (any Error).self) {
            let options = try RuntimeOptions.parse(arguments)
            try options.validate()
        }
    }

    @Test("the defaults and the bounds themselves are accepted, and become the relay's configuration")
    func accepted() throws {
        let defaults = try RuntimeOptions.parse([])
        try defaults.validate()
        #expect(defaults.relayConfiguration.leaseDuration == .seconds(5))
        let edges = try RuntimeOptions.parse(["--lease-seconds", "3600", "--outbox-retention-hours", "87600", "--inbox-retention-hours", "1",
                                               "--relay-linger-ms", "60000"])
        try edges.validate()
        #expect(edges.relayConfiguration.outboxRetention == .seconds(87_600 * 3600))
        #expect(edges.relayConfiguration.inboxRetention == .seconds(3600))
    }
}
