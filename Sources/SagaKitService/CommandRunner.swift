import ArgumentParser
import Foundation

/// Runs a command tree with SagaKit's exit-code contract: 0 success, 1 failure (one line on stderr, e.g. a saga
/// not found), 2 usage error (one line, then a pointer to `--help`).
public enum CommandRunner {
    public static func main<Root: ParsableCommand>(_ root: Root.Type, arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        let name = Root.configuration.commandName ?? "command"
        do {
            var command = try Root.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit(0)
        } catch let error as CommandFailure {
            fail("\(name): \(error.message)", code: error.exitCode)
        } catch {
            switch Root.exitCode(for: error) {
            case .success:
                // --help, --version
                Root.exit(withError: error)
            case .validationFailure:
                fail("\(name): \(oneLine(Root.message(for: error))) (see '\(name) --help')", code: 2)
            case let code where error is ExitCode:
                exit(code.rawValue)
            default:
                fail("\(name): \(oneLine(Root.message(for: error)))", code: 1)
            }
        }
    }

    public static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    private static func fail(_ line: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((line + "\n").utf8))
        exit(code)
    }
}

/// A failure to report in one line with a chosen exit code (1: not found or failed).
public struct CommandFailure: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    public var description: String { message }
}
