import ArgumentParser
import OrderSaga
import PGClient
import SagaKit
import SagaKitService
import Testing

/// A participant with a command line, for parsing the generic commands without a binary.
private enum Probe: CommandLineParticipant {
    static let name = "probe"
    static let databaseURLVariable = "PROBE_DATABASE_URL"
    static let registry = OrderSagaEvents.registry
    static func migrators() throws -> [PGMigrator] { [] }
    static func consumers(_ context: ParticipantContext<NoConfiguration>) throws -> [ConsumerDefinition] {
        [ConsumerDefinition(name: "saga", topics: [OrderSagaTopics.orders], handlers: EventHandlers())]
    }
}

/// `dead-letters` arguments a command refuses before it connects to anything: usage errors, exit 2.
@Suite("dead-letters arguments")
struct DeadLetterCommandTests {
    static func isUsageError(_ body: () throws -> Void) -> Bool {
        do {
            try body()
            return false
        } catch {
            return DeadLettersCommand<Probe>.exitCode(for: error) == .validationFailure
        }
    }

    @Test("every participant's binary has dead-letters list, show and redrive")
    func subcommands() {
        let root = Probe.commandConfiguration(abstract: "probe")
        #expect(root.subcommands.contains { ObjectIdentifier($0) == ObjectIdentifier(DeadLettersCommand<Probe>.self) })
        #expect(DeadLettersCommand<Probe>.configuration.subcommands.compactMap { $0.configuration.commandName } == ["list", "show", "redrive"])
    }

    @Test("bad ids, limits and combinations are usage errors")
    func usageErrors() {
        for arguments in [["list", "--limit", "0"], ["show", "orders.dlq:1"], ["show", "x:y:z"], ["redrive"], ["redrive", "--all", "orders.dlq:0:1"],
                          ["redrive", "orders.dlq:0:1", "--since", "1h"], ["redrive", "orders.dlq:0:1", "--by", " "], ["list", "--since", "yesterday"]] {
            #expect(Self.isUsageError { _ = try DeadLettersCommand<Probe>.parseAsRoot(arguments) }, "\(arguments)")
        }
    }

    @Test("good arguments parse")
    func goodArguments() throws {
        for arguments in [["list", "--since", "2h", "--source-topic", "orders", "--limit", "5", "--json"], ["show", "orders.dlq:0:12"],
                          ["redrive", "orders.dlq:0:12", "orders.dlq:2:3", "--dry-run", "--by", "alice"], ["redrive", "--all", "--since", "30m"]] {
            _ = try DeadLettersCommand<Probe>.parseAsRoot(arguments)
        }
    }
}
