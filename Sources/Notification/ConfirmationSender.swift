import Foundation
import SagaKit

/// A rendered confirmation, ready to deliver.
public struct ConfirmationMessage: Sendable, Hashable {
    public var orderID: String
    public var to: String
    public var subject: String
    public var body: String
    /// Stable per order, so a redelivered send produces the same message.
    public var messageID: String

    /// The RFC 5322 text.
    public func rendered(date: Date = Date()) -> String {
        """
        Message-ID: <\(messageID)>\r
        Date: \(Self.rfc5322Date(date))\r
        From: SagaKit Shop <orders@sagakit.invalid>\r
        To: <\(to)>\r
        Subject: \(subject)\r
        MIME-Version: 1.0\r
        Content-Type: text/plain; charset=utf-8\r
        \r
        \(body.replacingOccurrences(of: "\n", with: "\r\n"))\r

        """
    }

    static func rfc5322Date(_ date: Date) -> String {
        var seconds = Int(date.timeIntervalSince1970)
        var t = tm()
        gmtime_r(&seconds, &t)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(t.tm_wday)]), \(t.tm_mday) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) +0000"
    }
}

/// Delivers confirmations. Runs inside the consumer's transaction, on its connection's thread: one attempt, as
/// brief as it can be, never a retry loop. Throw `TransientSendError` for a failure worth retrying: the consumer
/// rolls back and retries after a backoff with no transaction open.
public protocol ConfirmationSender: Sendable {
    func send(_ message: ConfirmationMessage) throws
}

public struct TransientSendError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Writes one `.eml` file per order into a spool folder. The file is named by the order, written to a temporary
/// name and renamed into place, so a redelivered send replaces it rather than adding a second one.
public struct SpoolSender: ConfirmationSender {
    public let directory: URL

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public func send(_ message: ConfirmationMessage) throws {
        // Plain system calls: at a few hundred confirmations a second, Foundation's URL and Data layers cost more
        // than the file system does.
        let name = Self.fileName(for: message.orderID)
        let final = directory.path + "/" + name
        let temporary = directory.path + "/." + name + "." + String(UInt32.random(in: .min ... .max), radix: 16) + ".tmp"
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TransientSendError("cannot write to the spool: \(String(cString: strerror(errno)))") }
        var text = message.rendered()
        let written = text.withUTF8 { bytes -> Bool in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                offset += n
            }
            return true
        }
        let writeError = errno
        guard close(fd) == 0, written else {
            unlink(temporary)
            throw TransientSendError("cannot write to the spool: \(String(cString: strerror(written ? errno : writeError)))")
        }
        guard rename(temporary, final) == 0 else {
            let renameError = errno
            unlink(temporary)
            throw TransientSendError("cannot move the message into the spool: \(String(cString: strerror(renameError)))")
        }
    }

    /// The longest name spelled out in full; a file name may have 255 bytes, and the temporary name adds 14.
    static let maxSpelledOutName = 200
    /// How much of a long id's spelling a hashed name keeps, for a person reading the folder.
    static let hashedNamePrefix = 120

    /// `<order id>.eml` with anything but ASCII letters, digits, `.`, `_` and `-` percent-encoded, when that fits
    /// in 200 bytes; otherwise, since one non-ASCII character takes up to 12 bytes spelled out (a 128-byte id up
    /// to 384), the first 120 bytes of that spelling (whole escapes), `~` and the id's SHA-256 in hex (at most 189
    /// bytes). A function of the id alone, so a retried send replaces its file; one id, one name: spelled-out names
    /// never hold `~` (it is encoded), and hashed names differ unless SHA-256 collides.
    public static func fileName(for orderID: String) -> String {
        var name = ""
        var wholeEscapes = 0
        for byte in orderID.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || (c == "." && !name.isEmpty)) {
                name.append(c)
            } else {
                name += String(format: "%%%02X", byte)
            }
            if name.utf8.count <= hashedNamePrefix { wholeEscapes = name.utf8.count }
        }
        guard name.utf8.count > maxSpelledOutName else { return name + ".eml" }
        return String(name.utf8.prefix(wholeEscapes))! + "~" + SHA256.hex(orderID.utf8) + ".eml"
    }
}
