import Foundation
import Notification
import OrderSaga
import Testing
import Tracker

/// What the intake refuses, and how amounts are read: pure logic. IntakeStartChecksTests runs the real
/// `saga-tracker start` with the same refusals.
@Suite("Intake checks")
struct IntakeChecksTests {
    @Test("amounts parse exactly: digits, at most two decimals, one leading minus")
    func moneyParses() {
        let cases: [(String, Int64)] = [
            ("59.99", 5999), ("59.9", 5990), ("59", 5900), ("0", 0), ("0.01", 1), ("-5.00", -500), ("007.5", 750),
            ("1000000.00", 100_000_000),
            // The largest amount Int64 cents holds, and its negative.
            ("92233720368547758.07", .max), ("-92233720368547758.07", -.max),
        ]
        for (text, cents) in cases {
            #expect(Money(parsing: text)?.cents == cents, "\(text)")
        }
    }

    @Test("anything else is refused, and nothing traps: overflow, signs, spaces, stray characters")
    func moneyRefuses() {
        for text in [
            "92233720368547758.08", "92233720368547758.99", "-92233720368547758.99", "92233720368547759", "99999999999999999999999",
            "--5", "+5", "-+5", "+-5", "- 5", " 5", "5 ", "5.", ".5", "-", "", "5.999", "5.-1", "5.+1", "1.2.3", "5,00", "1e3",
            "٥", "５", "0x10", "5.0\u{0}", "\u{0}",
        ] {
            #expect(Money(parsing: text) == nil, "\(text.debugDescription)")
        }
    }

    @Test("the intake refuses control characters in ids, implausible addresses, non-positive or too large amounts and quantities")
    func requestChecks() throws {
        let good = OrderRequest(orderID: "ORD-1", sku: "w", quantity: 1, amount: Money(cents: 100), email: "a@example.com")
        try good.validate()
        var atMaximum = good
        atMaximum.amount = OrderRequest.maxAmount
        try atMaximum.validate()
        let é = String(repeating: "é", count: 50)
        var nonASCII = good
        nonASCII.orderID = é
        try nonASCII.validate()

        func refused(_ change: (inout OrderRequest) -> Void) -> OrderRequestError.Field? {
            var request = good
            change(&request)
            do {
                try request.validate()
                return nil
            } catch let error as OrderRequestError {
                return error.field
            } catch {
                return nil
            }
        }
        #expect(refused { $0.orderID = "ORD\u{7}1" } == .orderID)
        #expect(refused { $0.orderID = "ORD\u{0}" } == .orderID)
        #expect(refused { $0.orderID = "ORD\u{7F}" } == .orderID)
        #expect(refused { $0.orderID = "ORD\u{85}" } == .orderID, "C1 controls too")
        #expect(refused { $0.orderID = "ORD\n2" } == .orderID)
        #expect(refused { $0.orderID = "" } == .orderID)
        #expect(refused { $0.orderID = String(repeating: "é", count: 65) } == .orderID, "130 bytes")
        #expect(refused { $0.sku = "w\u{1B}[31m" } == .sku)
        #expect(refused { $0.quantity = 0 } == .quantity)
        #expect(refused { $0.quantity = -1 } == .quantity)
        #expect(refused { $0.quantity = 3_000_000_000 } == .quantity)
        #expect(refused { $0.amount = Money(cents: 0) } == .amount)
        #expect(refused { $0.amount = Money(cents: -500) } == .amount)
        #expect(refused { $0.amount = Money(cents: OrderRequest.maxAmount.cents + 1) } == .amount)
        #expect(refused { $0.amount = Money(cents: .max) } == .amount)
        #expect(refused { $0.currency = "usd" } == .currency)
        for email in ["", "a", "a@b", "a@@b.com", "@b.com", "a@.com", "a@b.", "a b@c.com", "a@b.com\n", "a\u{7F}@b.com",
                      "a@-b.com", String(repeating: "x", count: 65) + "@b.com", "a@" + String(repeating: "b", count: 250) + ".com"] {
            #expect(refused { $0.email = email } == .email, "\(email.debugDescription)")
        }
        // The refusal names the field and never repeats the value (it may be an address).
        let error = OrderRequestError(.email, "must be an address like name@example.com")
        #expect("\(error)" == "customer_email must be an address like name@example.com")
    }
}
