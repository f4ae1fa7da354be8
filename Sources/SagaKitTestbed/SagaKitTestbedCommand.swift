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
