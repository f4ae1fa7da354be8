import ArgumentParser
import PGClient
import SagaKit

/// What a command that reads the service's database and prints what it found takes: `--json`, the database and
/// logging options.
public struct ReportOptions<Service: SagaParticipant>: ParsableArguments {
    @Flag(help: "Print JSON.")
    public var json = false

    @OptionGroup public var database: DatabaseOptions<Service>
    @OptionGroup public var logging: LoggingOptions

    public init() {}

    /// Reads with `query`, then prints the result: as JSON with `--json`, else as `text` renders it.
    public func print<Report: Encodable>(_ query: (PGConnection) async throws -> Report, text: (Report) -> String) async throws {
        let report = try await database.withConnection(logging: logging, query)
        Swift.print(json ? try JSONOutput.string(report) : text(report))
    }
}
