import Foundation
@testable import Notification
import Testing

/// Confirmation file names: bounded whatever the order id, one per id, the same on every retry.
@Suite("Spool file names")
struct SpoolNameTests {
    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256() {
        #expect(SHA256.hex("".utf8) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc".utf8) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("short ids keep their readable name")
    func readable() {
        #expect(SpoolSender.fileName(for: "ORD-2001") == "ORD-2001.eml")
        #expect(SpoolSender.fileName(for: "a/b") == "a%2Fb.eml")
        #expect(SpoolSender.fileName(for: ".hidden") == "%2Ehidden.eml")
        #expect(SpoolSender.fileName(for: "café") == "caf%C3%A9.eml")
    }

    @Test("every id up to 128 bytes gets a name of at most 200 bytes, 214 with the temporary name's additions")
    func bounded() {
        let ids = [
            String(repeating: "é", count: 50), String(repeating: "é", count: 64), String(repeating: " ", count: 128),
            String(repeating: "𝄞", count: 32), String(repeating: "a", count: 128), String(repeating: "~", count: 128),
            String(repeating: "é", count: 16), String(repeating: "x", count: 100) + String(repeating: "é", count: 14),
        ]
        for id in ids {
            #expect(id.utf8.count <= 128)
            let name = SpoolSender.fileName(for: id)
            #expect(name.utf8.count <= 200, "\(name.utf8.count) bytes for \(id.utf8.count)-byte id")
            #expect(name == SpoolSender.fileName(for: id), "stable")
            #expect(!name.contains("/") && name.hasSuffix(".eml"))
        }
        let long = SpoolSender.fileName(for: String(repeating: "é", count: 50))
        #expect(long.hasPrefix("%C3%A9%C3%A9") && long.contains("~"), "a readable prefix, then the hash: \(long)")
        #expect(!long.dropLast(4).split(separator: "~")[0].hasSuffix("%C3"), "the prefix ends at a whole escape")
    }

    @Test("distinct ids get distinct names, spelled out or hashed")
    func unique() {
        var ids = (0..<200).map { String(repeating: "é", count: 50) + "\($0)" }
        ids += (0..<50).map { String(repeating: "é", count: 10) + "\($0)" }
        ids += ["%7E", "~", "a~b", "a%7Eb"]
        ids.append(String(repeating: "é", count: 49) + "e")
        let names = ids.map(SpoolSender.fileName(for:))
        #expect(Set(names).count == ids.count)
    }

    @Test("the spool sender writes a long non-ASCII id's confirmation and replaces it on a second send")
    func writes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-spool-names-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sender = try SpoolSender(directory: directory)
        let id = String(repeating: "é", count: 50)
        let message = ConfirmationMessage(orderID: id, to: "a@example.com", subject: "s", body: "first body", messageID: "m@sagakit.invalid")
        try sender.send(message)
        var second = message
        second.body = "second body"
        try sender.send(second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [SpoolSender.fileName(for: id)])
        let written = try String(contentsOf: directory.appendingPathComponent(SpoolSender.fileName(for: id)), encoding: .utf8)
        #expect(written.contains("second body") && !written.contains("first body"))
    }
}
