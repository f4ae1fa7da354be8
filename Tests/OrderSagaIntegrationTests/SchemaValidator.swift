import Foundation
import Testing
import TestSupport

/// Runs `schemas/validate.py` (Python's jsonschema, draft 2020-12) over envelopes, one per line; against the
/// schemas in `schemas` when given (an evolved copy), else the repository's.
enum SchemaValidator {
    struct Result: Decodable {
        let line: Int
        let valid: Bool
        let errors: [String]
    }

    static func validate(_ envelopes: [String], schemas: URL? = nil) async throws -> [Result] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-events-\(UUID().uuidString.prefix(8)).jsonl")
        try envelopes.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("schemas/validate.py").path
        let child = try ChildProcess.start(URL(fileURLWithPath: TestEnvironment.python), [script] + (schemas.map { ["--schemas", $0.path] } ?? []) + [file.path], label: "validate.py")
        let exit = try await child.waitForExit(timeout: .seconds(60))
        let results = try child.output.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try JSONDecoder().decode(Result.self, from: Data($0.utf8))
        }
        guard results.count == envelopes.count else {
            throw TimedOut(description: "validate.py exited \(exit.status) with \(results.count) results for \(envelopes.count) events:\n\(child.tail())")
        }
        return results
    }

    static func expectValid(_ envelopes: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (result, envelope) in zip(try await validate(envelopes), envelopes) where !result.valid {
            Issue.record("schema violation \(result.errors) in \(envelope)", sourceLocation: sourceLocation)
        }
    }
}
