import ArgumentParser
import SagaKitService
import Testbed

@main
struct SagaKitTestbedMain {
    static func main() async {
        await CommandRunner.main(SagaKitTestbedCommand.self)
    }
}

struct SagaKitTestbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sagakit-testbed",
        abstract: "A minimal SagaKit service that the integration tests run, crash and restart.",
        subcommands: [RunCommand<Testbed>.self, MigrateCommand<Testbed>.self, OutboxCommand<Testbed>.self, ReplayCommand<Testbed>.self]
    )
}

extension Testbed: CommandLineParticipant {
    public typealias Options = TestbedOptions
}

/// `sagakit-testbed run`'s own flags.
public struct TestbedOptions: ParticipantOptions {
    public init() {}

    @Option(help: "Fail (non-transiently) whenever the ping with this sequence is handled.")
    var failSequence: Int?

    public func configuration() -> Testbed.Configuration {
        Testbed.Configuration(failSequence: failSequence)
    }
}
