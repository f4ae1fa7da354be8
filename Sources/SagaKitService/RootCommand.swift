import ArgumentParser

/// A binary's root command. Marked `@main`, it runs through `CommandRunner`, so every binary has SagaKit's exit
/// codes: 0 success, 1 failure, 2 usage error, each failure one line on stderr.
public protocol RootCommand: AsyncParsableCommand {}

extension RootCommand {
    public static func main() async {
        await CommandRunner.main(Self.self)
    }
}
