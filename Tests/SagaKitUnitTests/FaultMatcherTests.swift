import SagaKit
import Testing

@Suite("FaultMatcher")
struct FaultMatcherTests {
    private func parseError(_ text: String) -> String? {
        do {
            _ = try FaultMatcher(parsing: text)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("an empty setting matches nothing")
    func emptyMatchesNothing() throws {
        for text in ["", " ", ",", " , ,"] {
            let matcher = try FaultMatcher(parsing: text)
            #expect(matcher.isEmpty && matcher == .none, "\(text.debugDescription)")
            #expect(!matcher.matches("ORD-2003") && !matcher.matches(""))
        }
        #expect(!FaultMatcher.none.matches("anything"))
        #expect(FaultMatcher.none.description == "none")
    }

    @Test("a literal pattern matches only the whole id")
    func literal() throws {
        let matcher = try FaultMatcher(parsing: "ORD-2003")
        #expect(matcher.matches("ORD-2003"))
        for id in ["ORD-20031", "XORD-2003", "ORD-200", "ord-2003", ""] {
            #expect(!matcher.matches(id), "\(id)")
        }
    }

    @Test("'*' matches any run of characters, none too, anywhere in the pattern")
    func star() throws {
        let matcher = try FaultMatcher(parsing: "*-decline-*")
        for id in ["bench-1a2b-decline-7", "-decline-", "a-decline-", "x-decline-decline-y"] { #expect(matcher.matches(id), "\(id)") }
        for id in ["bench-decline7", "decline-1", "x-declined-1", "x-decline"] { #expect(!matcher.matches(id), "\(id)") }
        #expect(try FaultMatcher(parsing: "*").matches(""))
        #expect(try FaultMatcher(parsing: "*").matches("ORD-1"))
        #expect(try FaultMatcher(parsing: "ORD-**").matches("ORD-"))
        #expect(try FaultMatcher(parsing: "ORD-*-x").matches("ORD-a-x-b-x"))
        #expect(try !FaultMatcher(parsing: "ORD-*-x").matches("ORD-a-x-b"))
        #expect(try FaultMatcher(parsing: "*é*").matches("café-1"), "bytes of other characters match themselves")
        // No catastrophic backtracking on a long id.
        let long = String(repeating: "a", count: 128)
        #expect(try !FaultMatcher(parsing: "*a*a*a*a*a*b").matches(long))
    }

    @Test("a list matches when any entry does; blanks and empty entries are ignored")
    func list() throws {
        let matcher = try FaultMatcher(parsing: " ORD-2003 ,, *-decline-* ,")
        #expect(matcher.patterns == ["ORD-2003", "*-decline-*"])
        #expect(matcher.description == "ORD-2003,*-decline-*")
        #expect(matcher.matches("ORD-2003") && matcher.matches("b-decline-1") && !matcher.matches("ORD-2002"))
    }

    @Test("invalid patterns are refused in one line that names them")
    func invalid() throws {
        #expect(parseError("ORD-200?") == #"pattern "ORD-200?": '?' is not supported (only '*' is a wildcard)"#)
        #expect(parseError("ok,ORD-[12]") == #"pattern "ORD-[12]": '[' is not supported (only '*' is a wildcard)"#)
        #expect(parseError(#"a\*"#) == #"pattern "a\\*": '\' is not supported (only '*' is a wildcard)"#)
        #expect(parseError("ORD 1") == #"pattern "ORD 1" contains a space or a control character"#)
        #expect(parseError("ORD\t1") == #"pattern "ORD\t1" contains a space or a control character"#)
        let tooLong = try #require(parseError(String(repeating: "x", count: 129)))
        #expect(tooLong.hasSuffix("is longer than an order id can be (128 bytes) and has no '*'") && !tooLong.contains("\n"))
        #expect(parseError(String(repeating: "x", count: 128)) == nil)
        #expect(parseError(String(repeating: "x", count: 200) + "*") == nil)
    }
}
