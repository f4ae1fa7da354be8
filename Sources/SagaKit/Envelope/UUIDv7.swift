import Foundation

extension UUID {
    /// A version 7 UUID (RFC 9562): milliseconds since the epoch, then random bits. Event ids are the keys of the
    /// outbox, the inbox and the tracker's event table; ids that grow with time land on the same few index pages
    /// instead of a random page per insert, which a busy database feels.
    public static func timeOrdered(at date: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        let random: (UInt64, UInt64) = (generator.next(), generator.next())
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - UInt64(i)))) }
        for i in 6..<16 {
            let word = i < 14 ? random.0 : random.1
            bytes[i] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(i % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
