import ArgumentParser
import Foundation
import SagaKit

/// A point in time on the command line: RFC 3339, or an age back from now (`90s`, `30m`, `2h`, `7d`).
public struct TimeArgument: ExpressibleByArgument, Sendable {
    public let date: Date

    public init(date: Date) {
        self.date = date
    }

    public init?(argument: String) {
        if let date = RFC3339.parse(argument) {
            self.date = date
            return
        }
        guard let seconds = TimeArgument.parseAge(argument) else { return nil }
        date = Date().addingTimeInterval(-seconds)
    }

    /// The longest age or duration taken: a larger one is a typo, and would overflow the milliseconds and the
    /// dates built from it.
    public static let maximumSeconds: Double = 100 * 365 * 86400

    /// `90s`, `30m`, `2h`, `7d` as seconds, finite and at most a hundred years.
    public static func parseAge(_ text: String) -> Double? {
        guard let unit = text.last, let value = Double(text.dropLast()), value >= 0 else { return nil }
        let seconds: Double
        switch unit {
        case "s": seconds = value
        case "m": seconds = value * 60
        case "h": seconds = value * 3600
        case "d": seconds = value * 86400
        default: return nil
        }
        return seconds.isFinite && seconds <= maximumSeconds ? seconds : nil
    }

    public static var defaultCompletionKind: CompletionKind { .default }
}

/// A duration on the command line: `90s`, `30m`, `2h`, `1d`, up to a hundred years (`TimeArgument.parseAge`).
public struct DurationArgument: ExpressibleByArgument, CustomStringConvertible, Sendable {
    public let duration: Duration
    private let text: String

    public init?(argument: String) {
        guard let seconds = TimeArgument.parseAge(argument) else { return nil }
        duration = .milliseconds(Int64(seconds * 1000))
        text = argument
    }

    public var description: String { text }
    public var defaultValueDescription: String { text }
}
