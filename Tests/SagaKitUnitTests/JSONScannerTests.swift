import Foundation
@testable import SagaKit
import Testing

@Suite("JSONScanner and JSONWriter")
struct JSONScannerTests {
    // MARK: - Top-level objects

    @Test("returns the top-level members in document order with their decoded scalars")
    func membersInOrder() throws {
        let members = try JSONScanner.objectMembers(Array(#" { "s" : "x" , "n":-0.5e10, "t":true, "f":false, "z":null } "#.utf8))
        #expect(members.map(\.0) == ["s", "n", "t", "f", "z"])
        #expect(members.map(\.1) == [.string("x"), .number("-0.5e10"), .bool(true), .bool(false), .null])
    }

    @Test("an empty object has no members")
    func emptyObject() throws {
        #expect(try JSONScanner.objectMembers(Array("{}".utf8)).isEmpty)
        #expect(try JSONScanner.objectMembers(Array(" \t\r\n{ \n}\n".utf8)).isEmpty)
    }

    @Test("nested values are returned as byte ranges that slice out exactly the nested text")
    func nestedRanges() throws {
        let text = #"{"a": {"b":[1, {"c":"}]\"{"}], "d" : {}}, "e":[ [], "]" ] ,"f":1}"#
        let bytes = Array(text.utf8)
        let members = try JSONScanner.objectMembers(bytes)
        #expect(members.map(\.0) == ["a", "e", "f"])
        guard case .object(let a) = members[0].1 else { Issue.record("a is \(members[0].1)"); return }
        #expect(String(decoding: bytes[a], as: UTF8.self) == #"{"b":[1, {"c":"}]\"{"}], "d" : {}}"#)
        guard case .array(let e) = members[1].1 else { Issue.record("e is \(members[1].1)"); return }
        #expect(String(decoding: bytes[e], as: UTF8.self) == #"[ [], "]" ]"#)
        #expect(members[2].1 == .number("1"))
    }

    @Test("a value that is not an object is rejected", arguments: ["[1]", "\"x\"", "1", "null", "", "   "])
    func notAnObject(text: String) {
        #expect(unitScannerFailure(text) == "not a JSON object")
    }

    @Test("text after the object is rejected", arguments: ["{} x", "{}{}", "{\"a\":1}}", "{} ,"])
    func trailing(text: String) {
        #expect(unitScannerFailure(text) == "trailing characters after the JSON object")
    }

    @Test("a repeated member name is rejected, naming the member")
    func duplicateMember() {
        #expect(unitScannerFailure(#"{"a":1,"b":2,"a":3}"#) == #"member "a" appears twice"#)
        // Names are compared after unescaping.
        #expect(unitScannerFailure(#"{"A":1,"\u0041":2}"#) == #"member "A" appears twice"#)
    }

    @Test("malformed objects are rejected with the position of the problem")
    func malformedObjects() {
        #expect(unitScannerFailure(#"{"a":1,}"#) == "expected a member name at byte 7")
        #expect(unitScannerFailure(#"{a:1}"#) == "expected a member name at byte 1")
        #expect(unitScannerFailure(#"{"a" 1}"#) == "expected ':' at byte 5")
        #expect(unitScannerFailure(#"{"a":1 "b":2}"#) == "expected '}' at byte 7")
        #expect(unitScannerFailure(#"{"a":}"#) == "invalid value at byte 5")
        #expect(unitScannerFailure(#"{"a":"#) == "unexpected end of input")
        #expect(unitScannerFailure(#"{"a":1"#) == "expected '}' at byte 6")
        #expect(unitScannerFailure(#"{"a":[1,]}"#) == "invalid value at byte 8")
        #expect(unitScannerFailure(#"{"a":{"b"}}"#) == "expected ':' at byte 9")
        #expect(unitScannerFailure(#"{"a":tru}"#) == "invalid literal at byte 5")
        #expect(unitScannerFailure(#"{"a":nul"#) == "unexpected end of input")
    }

    // MARK: - Strings

    private func member(_ rawValue: String) throws -> JSONScanner.Value {
        let members = try JSONScanner.objectMembers(Array("{\"k\":\(rawValue)}".utf8))
        try #require(members.count == 1)
        return members[0].1
    }

    @Test("the simple escapes decode to their characters")
    func simpleEscapes() throws {
        #expect(try member(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
    }

    @Test("\\u escapes decode, in either case of hex digit")
    func unicodeEscapes() throws {
        #expect(try member(#""\u0041\u00e9\u00E9\u4e2d""#) == .string("Aéé中"))
        #expect(try member(#""\u0000""#) == .string("\u{0}"))
    }

    @Test("a surrogate pair decodes to one scalar outside the BMP")
    func surrogatePair() throws {
        #expect(try member(#""x\ud83d\ude00y""#) == .string("x😀y"))
        #expect(try member(#""\uD834\uDD1E""#) == .string("𝄞"))
    }

    @Test("an unpaired surrogate is rejected", arguments: [
        #""\ud83d""#, #""\ud83dx""#, #""\ud83d\n""#, #""\ud83d\u0041""#, #""\ude00""#, #""\ude00\ud83d""#,
    ])
    func unpairedSurrogate(raw: String) {
        #expect(unitScannerFailure("{\"k\":\(raw)}") == "unpaired surrogate in string")
    }

    @Test("invalid and truncated escapes are rejected")
    func invalidEscapes() {
        #expect(unitScannerFailure(#"{"k":"\x"}"#) == "invalid escape in string at byte 7")
        #expect(unitScannerFailure(#"{"k":"\u00g1"}"#) == "invalid \\u escape")
        #expect(unitScannerFailure(#"{"k":"\u00"#) == "truncated \\u escape")
        #expect(unitScannerFailure(#"{"k":"\"#) == "unterminated string")
        #expect(unitScannerFailure(#"{"k":"abc"#) == "unterminated string")
    }

    @Test("raw control characters in a string are rejected", arguments: [0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F] as [UInt8])
    func controlCharacters(byte: UInt8) {
        let bytes = Array(#"{"k":"a"#.utf8) + [byte] + Array(#"b"}"#.utf8)
        #expect(unitScannerFailure(bytes) == "control character in string at byte 7")
    }

    @Test("DEL and non-ASCII UTF-8 are accepted raw in strings")
    func rawNonASCII() throws {
        #expect(try member("\"\u{7F}é中😀\"") == .string("\u{7F}é中😀"))
    }

    @Test("a string that is not valid UTF-8 is rejected")
    func invalidUTF8() {
        let bytes = Array(#"{"k":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(unitScannerFailure(bytes) == "string is not valid UTF-8")
        let nested = Array(#"{"k":[""#.utf8) + [0xFF] + Array(#""]}"#.utf8)
        #expect(unitScannerFailure(nested) == "string is not valid UTF-8")
    }

    // MARK: - Numbers

    @Test("valid numbers are kept as their exact text", arguments: [
        "0", "-0", "7", "-12", "0.5", "-0.5e10", "1E+2", "1e-2", "123456789012345678901234567890", "2.50",
    ])
    func validNumbers(text: String) throws {
        #expect(try member(text) == .number(text))
    }

    @Test("invalid numbers are rejected", arguments: ["01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "1.e5", "0x10", "Infinity", "NaN"])
    func invalidNumbers(text: String) {
        #expect(unitScannerFailure("{\"k\":\(text)}") != nil)
        #expect(!JSONScanner.isValidJSON(Array(text.utf8)))
    }

    @Test("a leading zero is reported where the number should have ended")
    func leadingZeroMessage() {
        #expect(unitScannerFailure(#"{"k":01}"#) == "expected '}' at byte 6")
    }

    // MARK: - Nesting

    private func nestedArrays(_ depth: Int) -> [UInt8] {
        Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
    }

    @Test("isValidJSON allows 64 levels of nesting and rejects 65")
    func depthLimitValidJSON() {
        #expect(JSONScanner.isValidJSON(nestedArrays(64)))
        #expect(!JSONScanner.isValidJSON(nestedArrays(65)))
    }

    @Test("a member value may nest 63 levels below the top-level object, not 64")
    func depthLimitMembers() {
        let ok = Array(#"{"k":"#.utf8) + nestedArrays(63) + Array("}".utf8)
        #expect(unitScannerFailure(ok) == nil)
        let tooDeep = Array(#"{"k":"#.utf8) + nestedArrays(64) + Array("}".utf8)
        #expect(unitScannerFailure(tooDeep) == "nested too deeply")
        let objects = #"{"k":"# + String(repeating: #"{"a":"#, count: 64) + "1" + String(repeating: "}", count: 65)
        #expect(unitScannerFailure(objects) == "nested too deeply")
    }

    @Test("a very deep document is rejected without exhausting the stack")
    func veryDeep() {
        #expect(!JSONScanner.isValidJSON(nestedArrays(100_000)))
    }

    // MARK: - isValidJSON

    @Test("isValidJSON accepts any single JSON value, surrounded by whitespace")
    func isValidJSONAccepts() {
        for text in ["1", " \"x\" ", "null", "true", "[]", "{}", #"{"a":[1,{"b":null}]}"#, "\n[1, 2]\t"] {
            #expect(JSONScanner.isValidJSON(Array(text.utf8)), "\(text)")
        }
    }

    @Test("isValidJSON rejects empty input, several values and trailing garbage")
    func isValidJSONRejects() {
        for text in ["", " ", "1 2", "[] []", "{} x", "[1,]", "{\"a\":1,\"a\"}", "'x'"] {
            #expect(!JSONScanner.isValidJSON(Array(text.utf8)), "\(text)")
        }
    }

    // MARK: - JSONWriter

    @Test("JSONWriter escapes quotes, backslashes and control characters and leaves other text alone")
    func writerEscapes() {
        var w = JSONWriter()
        w.string("a\"b\\c\nd\re\tf\u{01}\u{1F}g/é😀\u{7F}")
        #expect(String(decoding: w.bytes, as: UTF8.self) == #""a\"b\\c\nd\re\tf\u0001\u001fg/é😀"# + "\u{7F}\"")
    }

    @Test("JSONWriter strings read back unchanged through the scanner", arguments: [
        "", "plain", "quote\"backslash\\", "line\nfeed\r\ttab", "\u{0}\u{1}\u{8}\u{C}\u{1F}", "non-ASCII: é 中 😀 \u{7F}",
    ])
    func writerRoundTrip(text: String) throws {
        var w = JSONWriter()
        w.raw("{\"k\":")
        w.string(text)
        w.raw(",\"n\":")
        w.number(-42)
        w.raw("}")
        let members = try JSONScanner.objectMembers(w.bytes)
        #expect(members.map(\.1) == [.string(text), .number("-42")])
    }
}
