import Foundation
import Testing
import TestSupport

/// docs/GUIDE.md shows the example's real code: every block introduced by "From `<file>`:" must be in that file,
/// character for character, so the guide cannot drift from what builds and is tested.
@Suite("docs/GUIDE.md")
struct GuideTests {
    struct Excerpt {
        var file: String
        var text: String
    }

    /// The blocks that follow a "From `<file>`:" line, without the indentation of their fence.
    static func excerpts() throws -> [Excerpt] {
        let root = TestEnvironment.repositoryRoot
        let lines = try String(contentsOf: root.appendingPathComponent("docs/GUIDE.md"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        var excerpts: [Excerpt] = []
        var file: String?
        var index = 0
        while index < lines.count {
            let line = lines[index].drop { $0 == " " }
            if let match = line.wholeMatch(of: /From `([^`]+)`:/) {
                file = String(match.output.1)
            } else if line.hasPrefix("```"), line.count > 3 {
                let indent = lines[index].count - line.count
                var body: [Substring] = []
                index += 1
                while index < lines.count, lines[index].drop(while: { $0 == " " }) != "```" {
                    body.append(lines[index].dropFirst(min(indent, lines[index].prefix { $0 == " " }.count)))
                    index += 1
                }
                if let name = file { excerpts.append(Excerpt(file: name, text: body.joined(separator: "\n"))) }
                file = nil
            } else if !line.isEmpty {
                file = nil
            }
            index += 1
        }
        return excerpts
    }

    @Test("every excerpt in the guide is in the file it names")
    func excerptsMatchTheCode() throws {
        let excerpts = try Self.excerpts()
        #expect(excerpts.count >= 15, "found \(excerpts.count) excerpts")
        for excerpt in excerpts {
            let url = TestEnvironment.repositoryRoot.appendingPathComponent(excerpt.file)
            let found = try String(contentsOf: url, encoding: .utf8).contains(excerpt.text)
            #expect(found, "docs/GUIDE.md's excerpt of \(excerpt.file) is not in it:\n\(excerpt.text)")
        }
    }
}
