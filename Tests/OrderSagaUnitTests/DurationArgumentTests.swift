import Foundation
import SagaKitService
import Testing

/// Durations on the command line (`saga-bench --duration`, `saga-tracker stuck --older-than`): a value that cannot
/// be one is refused by the parser (exit 2), never turned into a crash.
@Suite("Duration arguments")
struct DurationArgumentTests {
    @Test("each unit converts to its milliseconds; the text is what help shows")
    func units() {
        #expect(DurationArgument(argument: "90s")?.duration == .seconds(90))
        #expect(DurationArgument(argument: "1.5m")?.duration == .seconds(90))
        #expect(DurationArgument(argument: "2h")?.duration == .seconds(7200))
        #expect(DurationArgument(argument: "1d")?.duration == .seconds(86400))
        #expect(DurationArgument(argument: "0s")?.duration == .zero)
        #expect(DurationArgument(argument: "20s")?.description == "20s")
        #expect(DurationArgument(argument: "20s")?.defaultValueDescription == "20s")
    }

    @Test("no unit, a negative, not a number, or beyond a hundred years is refused", arguments: ["60", "-1s", "xs", "nans", "infs", "1e30s", "36501d", ""])
    func refused(_ text: String) {
        #expect(DurationArgument(argument: text) == nil)
    }

    @Test("a time argument takes RFC 3339 or an age up to a hundred years; a larger, infinite or year-0 one is refused",
          arguments: ["99999999999999999999s", "infs", "1e20s", "36501d", "0000-01-01T00:00:00Z", "-5m", "5"])
    func timeRefused(_ text: String) {
        #expect(TimeArgument(argument: text) == nil)
    }

    @Test("an age is counted back from now")
    func timeAge() throws {
        let date = try #require(TimeArgument(argument: "2h")).date
        #expect(abs(date.timeIntervalSinceNow + 7200) < 60)
        #expect(TimeArgument(argument: "36500d") != nil)
        #expect(TimeArgument(argument: "2026-12-06T00:00:00Z")?.date == Date(timeIntervalSince1970: 1_796_515_200))
    }
}
