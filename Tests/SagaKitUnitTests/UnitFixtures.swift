import Foundation
@testable import SagaKit

// Fixtures shared by SagaKit's unit tests, named `Unit…` so they read as test fixtures beside SagaKit's and
// Testbed's own types.

/// A payload with multi-word property names, an optional, a nested value and a date, to exercise snake_case coding.
struct UnitOrderPlaced: SagaEvent, Hashable {
    static let eventType = "UnitOrderPlaced"
    static let schemaVersion = 2
    static let topic = "unit.orders"

    struct Line: Codable, Hashable, Sendable {
        var skuCode: String
        var unitPriceMinor: Int
    }

    var customerName: String
    var amountMinor: Int
    var placedAt: Date
    var giftNote: String?
    var lineItems: [Line]

    func validate() throws {
        guard amountMinor > 0 else { throw EventValidationError("amount_minor must be positive") }
    }
}

/// The text of a valid envelope, member by member, so a test can replace or drop one member.
struct UnitEnvelopeJSON {
    static let eventID = "6f1c2a4e-8b3d-4c5e-9f60-7a8b9c0d1e2f"
    static let causationID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

    var members: [(name: String, raw: String)] = [
        ("event_id", "\"\(eventID)\""),
        ("event_type", "\"UnitOrderPlaced\""),
        ("schema_version", "2"),
        ("saga_id", "\"saga-1\""),
        ("occurred_at", "\"2024-05-06T07:08:09.123456Z\""),
        ("causation_id", "\"\(causationID)\""),
        ("producer", "\"orders\""),
        ("payload", "{\"amount_minor\":1}"),
    ]

    var text: String { "{" + members.map { "\"\($0.name)\":\($0.raw)" }.joined(separator: ",") + "}" }
    var bytes: [UInt8] { Array(text.utf8) }

    func replacing(_ name: String, with raw: String) -> UnitEnvelopeJSON {
        precondition(members.contains { $0.name == name }, "no member \(name)")
        var copy = self
        copy.members = members.map { $0.name == name ? (name, raw) : $0 }
        return copy
    }

    func removing(_ name: String) -> UnitEnvelopeJSON {
        precondition(members.contains { $0.name == name }, "no member \(name)")
        var copy = self
        copy.members.removeAll { $0.name == name }
        return copy
    }

    func appending(_ name: String, _ raw: String) -> UnitEnvelopeJSON {
        var copy = self
        copy.members.append((name, raw))
        return copy
    }
}

/// The message of the error `EventEnvelope.decode` throws, or nil if it accepts the bytes.
func unitEnvelopeRejection(_ bytes: [UInt8]) -> String? {
    do {
        _ = try EventEnvelope.decode(bytes)
        return nil
    } catch {
        return error.message
    }
}

/// The message of the error `JSONScanner.objectMembers` throws, or nil if it accepts the text.
func unitScannerFailure(_ text: String) -> String? {
    unitScannerFailure(Array(text.utf8))
}

func unitScannerFailure(_ bytes: [UInt8]) -> String? {
    do {
        _ = try JSONScanner.objectMembers(bytes)
        return nil
    } catch {
        return error.message
    }
}

/// A fixed instant with a whole number of microseconds, obtained the way `decode` obtains it, so envelopes built
/// with it compare equal after a round trip.
let unitInstant = RFC3339.parse("2024-05-06T07:08:09.123456Z")!
