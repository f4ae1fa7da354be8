import Foundation
import TestSupport

/// Files of this repository, for tests that check documents and configuration against the code.
enum RepositoryFiles {
    static func text(_ path: String) throws -> String {
        try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent(path), encoding: .utf8)
    }

    /// The text of every Swift file under `Sources/<module>`.
    static func swiftSources(module: String) throws -> [String] {
        let root = TestEnvironment.repositoryRoot.appendingPathComponent("Sources").appendingPathComponent(module)
        guard let walk = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var texts: [String] = []
        for case let url as URL in walk where url.pathExtension == "swift" {
            texts.append(try String(contentsOf: url, encoding: .utf8))
        }
        return texts
    }

    /// A folder that exists, for options that want one but whose use the test never reaches.
    static var existingFolder: String { FileManager.default.temporaryDirectory.path }
}
