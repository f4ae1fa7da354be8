import Foundation
import KafkaClient
import Logging
import PGClient

/// What `infra/dev env` exported. Integration suites are enabled only when the stack's settings are present, so
/// a bare `swift test` says what it skipped instead of failing on a missing server; `infra/dev test` always
/// sets them.
public enum TestEnvironment {
    public static func value(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// Whether the local stack's settings are present.
    public static var hasStack: Bool {
        value("SAGAKIT_BOOTSTRAP_SERVERS") != nil && value("SAGAKIT_ADMIN_DATABASE_URL") != nil
    }

    public static var bootstrapServers: String { value("SAGAKIT_BOOTSTRAP_SERVERS") ?? "127.0.0.1:19092" }
    public static var adminDatabaseURL: String { value("SAGAKIT_ADMIN_DATABASE_URL") ?? "" }
    public static var consumerProperties: String { value("SAGAKIT_KAFKA_CONSUMER_PROPERTIES") ?? "" }

    public static var kafka: KafkaConfiguration {
        KafkaConfiguration(
            bootstrapServers: bootstrapServers,
            consumerProperties: (try? KafkaConfiguration.parseProperties(consumerProperties)) ?? [:]
        )
    }

    /// The repository's root, found from this file's path.
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The folder holding the built executables: the test bundle's own folder.
    public static var productsDirectory: URL {
        let candidates = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for url in candidates {
            var dir = url
            for _ in 0..<3 {
                if FileManager.default.fileExists(atPath: dir.appendingPathComponent("sagakit-testbed").path) { return dir }
                dir = dir.deletingLastPathComponent()
            }
        }
        return repositoryRoot.appendingPathComponent(".build/debug")
    }

    public static func executable(_ name: String) -> URL {
        productsDirectory.appendingPathComponent(name)
    }

    /// The Python with jsonschema and confluent-kafka that `infra/dev setup` installed.
    public static var python: String { value("SAGAKIT_PYTHON") ?? "python3" }

    /// `infra/dev`, for faults such as restarting PostgreSQL.
    public static var devScript: String {
        value("SAGAKIT_DEV") ?? repositoryRoot.appendingPathComponent("infra/dev").path
    }

    public static var quietLogger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }
}
