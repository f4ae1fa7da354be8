@testable import Notification
import Testing

/// What Notification's dispatcher remembers in memory stays bounded, newest first.
@Suite("Delivery memory")
struct DeliveryMemoryTests {
    @Test("attempts count per order until forgotten; a send is remembered until 10,000 newer ones push it out")
    func memory() {
        let memory = DeliveryMemory()
        #expect(memory.nextAttempt("a") == 1 && memory.nextAttempt("a") == 2 && memory.nextAttempt("b") == 1)
        memory.forgetAttempts("a")
        #expect(memory.nextAttempt("a") == 1)
        memory.recordSent("a", attempts: 3)
        #expect(memory.sent("a") == 3 && memory.sent("b") == nil)
        for i in 0..<10_000 { memory.recordSent("o\(i)", attempts: 1) }
        #expect(memory.sent("a") == nil, "the oldest is forgotten first")
        #expect(memory.sent("o9999") == 1)
    }

    @Test("entries past the capacity drop the older half; the newest keep their values; a removed key is gone")
    func recentEntriesKeepTheNewest() {
        var entries = RecentEntries<Int>(capacity: 10)
        for n in 0..<11 { entries["k\(n)"] = n }
        #expect(entries.count == 5, "a cut at the eleventh key leaves the newest five")
        #expect(entries["k0"] == nil && entries["k5"] == nil && entries["k6"] == 6 && entries["k10"] == 10)
        entries["k10"] = nil
        #expect(entries["k10"] == nil && entries.count == 4)
        for n in 0..<1000 { entries["x\(n)"] = n }
        #expect(entries.count <= 10, "bounded however many keys pass through: \(entries.count)")

        // A key removed and added again keeps its new value past the cut of its old place.
        var again = RecentEntries<Int>(capacity: 4)
        again["a"] = 1
        again["a"] = nil
        for key in ["b", "c"] { again[key] = 0 }
        again["a"] = 2
        again["d"] = 0
        // The fifth addition cuts the oldest three: the first 'a', b and c.
        #expect(again["a"] == 2 && again["b"] == nil && again["d"] == 0, "a cut of the first 'a' must not drop the second")
    }

    @Test("attempt counts of orders that never come back are forgotten in time; a recent order keeps its count")
    func attemptsAreBounded() {
        let memory = DeliveryMemory()
        #expect(memory.nextAttempt("ORD-early") == 1)
        for n in 0..<DeliveryMemory.capacity { _ = memory.nextAttempt("ORD-\(n)") }
        #expect(memory.nextAttempt("ORD-early") == 1, "the early order's count was dropped with the older half")
        #expect(memory.nextAttempt("ORD-\(DeliveryMemory.capacity - 1)") == 2, "the newest keeps counting")
    }

    @Test("a flaky sender's count for an order ends once it got past its failures")
    func flakySenderForgets() throws {
        let counter = AttemptCounter()
        #expect(counter.next("ORD-1") == 1 && counter.next("ORD-1") == 2)
        counter.forget("ORD-1")
        #expect(counter.next("ORD-1") == 1)
    }
}
