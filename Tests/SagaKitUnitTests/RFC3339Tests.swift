import Foundation
@testable import SagaKit
import Testing

@Suite("RFC3339")
struct RFC3339Tests {
    private func date(_ text: String) throws -> Date {
        try #require(RFC3339.parse(text), "\(text) should parse")
    }

    @Test("formats UTC with six fractional digits and Z")
    func format() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_700_000_000.123456)) == "2023-11-14T22:13:20.123456Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000000Z")
    }

    @Test("formats instants before 1970 with a positive fraction")
    func formatBeforeEpoch() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -86_400)) == "1969-12-31T00:00:00.000000Z")
    }

    @Test("rounds to the nearest microsecond, carrying into the seconds")
    func formatRounds() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_700_000_000.9999998)) == "2023-11-14T22:13:21.000000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 10.0000004)) == "1970-01-01T00:00:10.000000Z")
    }

    @Test("parses Z, lowercase t and z, and no fraction")
    func parseZ() throws {
        #expect(try date("2023-11-14T22:13:20Z") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(try date("2023-11-14t22:13:20z") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(try date("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
    }

    @Test("applies positive and negative offsets")
    func parseOffsets() throws {
        let utc = try date("2024-03-10T06:30:00Z")
        #expect(try date("2024-03-10T12:00:00+05:30") == utc)
        #expect(try date("2024-03-09T22:30:00-08:00") == utc)
        #expect(try date("2024-03-10T06:30:00+00:00") == utc)
        #expect(try date("2024-03-10T06:30:00-00:00") == utc)
        #expect(try date("2024-03-10T06:30:00.5+01:00") == Date(timeInterval: -3600 + 0.5, since: utc))
    }

    @Test("reads one to six fractional digits as a fraction of a second")
    func parseFraction() throws {
        let whole = try date("2024-01-01T00:00:00Z")
        #expect(try date("2024-01-01T00:00:00.5Z").timeIntervalSince(whole) == 0.5)
        #expect(try date("2024-01-01T00:00:00.25Z").timeIntervalSince(whole) == 0.25)
        #expect(RFC3339.format(try date("2024-01-01T00:00:00.000001Z")) == "2024-01-01T00:00:00.000001Z")
        #expect(RFC3339.format(try date("2024-01-01T00:00:00.123Z")) == "2024-01-01T00:00:00.123000Z")
    }

    @Test("digits beyond the sixth are accepted and truncated to microseconds")
    func parseLongFraction() throws {
        #expect(try date("2024-01-01T00:00:00.1234569Z") == (try date("2024-01-01T00:00:00.123456Z")))
        #expect(try date("2024-01-01T00:00:00.123456999999999Z") == (try date("2024-01-01T00:00:00.123456Z")))
        #expect(RFC3339.format(try date("2024-01-01T00:00:00.9999999Z")) == "2024-01-01T00:00:00.999999Z")
    }

    @Test("accepts the last day of each month and 29 February of a leap year", arguments: [
        "2024-01-31", "2024-02-29", "2000-02-29", "2023-02-28", "2024-03-31", "2024-04-30", "2024-06-30", "2024-09-30",
        "2024-11-30", "2024-12-31",
    ])
    func validDates(day: String) throws {
        let parsed = try date(day + "T12:00:00Z")
        #expect(RFC3339.format(parsed) == day + "T12:00:00.000000Z")
    }

    @Test("rejects malformed date-times", arguments: [
        "", "2024-01-01", "2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-01-01T00:00Z", "2024-1-01T00:00:00Z",
        "24-01-01T00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.5", "2024-01-01T00:00:00+0100",
        "2024-01-01T00:00:00+1:00", "2024-01-01T00:00:00+01", "2024-01-01T00:00:00+01:00Z", "2024-01-01T00:00:00ZZ",
        "2024-01-01T00:00:00 Z", "2024-01-01T00:00:00UTC", "2024/01/01T00:00:00Z", "2024-01-01T00:00:0aZ",
        "２０２４-01-01T00:00:00Z", " 2024-01-01T00:00:00Z",
    ])
    func rejectsMalformed(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("rejects out-of-range fields", arguments: [
        "2024-00-10T00:00:00Z", "2024-13-10T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-32T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-01-01T23:59:61Z", "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00+01:60",
        // Year 0 is no year in PostgreSQL's calendar, which would refuse it after the event was accepted.
        "0000-01-01T00:00:00Z",
    ])
    func rejectsOutOfRange(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("rejects days that do not exist in their month", arguments: [
        "2023-02-29", "2100-02-29", "2024-02-30", "2024-02-31", "2024-04-31", "2024-06-31", "2024-09-31", "2024-11-31",
    ])
    func rejectsImpossibleDays(day: String) {
        #expect(RFC3339.parse(day + "T00:00:00Z") == nil, "\(day) was read as \(RFC3339.parse(day + "T00:00:00Z").map(RFC3339.format) ?? "")")
    }

    @Test("format then parse keeps an instant to the microsecond")
    func roundTripMicroseconds() throws {
        var rng = SplitMix64(seed: 3339)
        // Whole microseconds between 1970 and 2100.
        for _ in 0..<5_000 {
            let micros = Int64(rng.next() % 4_102_444_800_000_000)
            let text = RFC3339.format(Date(timeIntervalSince1970: Double(micros) / 1_000_000))
            let parsed = try #require(RFC3339.parse(text))
            #expect(RFC3339.format(parsed) == text)
            #expect(String(text.dropLast().suffix(6)) == String(format: "%06lld", micros % 1_000_000), "\(text)")
            #expect(abs(parsed.timeIntervalSince1970 * 1_000_000 - Double(micros)) < 0.5, "\(text)")
        }
    }

    @Test("format prints the fraction that parse read", arguments: ["000000", "000001", "100000", "123456", "999999", "500000"])
    func fractionRoundTrip(fraction: String) throws {
        let text = "2031-07-15T13:14:15.\(fraction)Z"
        #expect(RFC3339.format(try date(text)) == text)
    }
}
