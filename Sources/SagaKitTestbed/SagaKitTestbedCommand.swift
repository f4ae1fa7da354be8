import ArgumentParser
import SagaKitService
import Testbed

@main
struct SagaKitTestbedCommand: RootCommand {
    static let configuration = Testbed.commandConfiguration(
        abstract: "A minimal SagaKit service that the integration tests run, crash and restart.")
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
