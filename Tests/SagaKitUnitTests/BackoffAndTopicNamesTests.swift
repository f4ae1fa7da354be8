import PGClient
@testable import SagaKit
import Testing

@Suite("Backoff")
struct BackoffTests {
    @Test("attempt n waits between half and all of initial × 2^(n-1)", arguments: 1...8)
    func doubling(attempt: Int) {
        let backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(60))
        let ceiling = Duration.milliseconds(50 * (1 << (attempt - 1)))
        for _ in 0..<500 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= ceiling / 2 && delay <= ceiling, "attempt \(attempt): \(delay) outside [\(ceiling / 2), \(ceiling)]")
        }
    }

    @Test("the ceiling is capped at maximum", arguments: [6, 7, 20, 24, 25, 64, 1_000, Int.max])
    func capped(attempt: Int) {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
        for _ in 0..<500 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= .seconds(1) && delay <= .seconds(2), "attempt \(attempt): \(delay)")
        }
    }

    @Test("attempts below 1 are treated as the first", arguments: [0, -1, Int.min])
    func belowOne(attempt: Int) {
        let backoff = Backoff(initial: .milliseconds(80), maximum: .seconds(5))
        for _ in 0..<500 {
            let delay = backoff.delay(attempt: attempt)
            #expect(delay >= .milliseconds(40) && delay <= .milliseconds(80), "\(delay)")
        }
    }

    @Test("a maximum below initial caps the first attempt too")
    func maximumBelowInitial() {
        let backoff = Backoff(initial: .seconds(10), maximum: .seconds(1))
        for _ in 0..<500 {
            let delay = backoff.delay(attempt: 1)
            #expect(delay >= .milliseconds(500) && delay <= .seconds(1), "\(delay)")
        }
    }

    @Test("the delay is jittered, not constant")
    func jittered() {
        let backoff = Backoff()
        let delays = Set((0..<100).map { _ in backoff.delay(attempt: 3) })
        #expect(delays.count > 10)
    }

    @Test("the defaults are 50 ms and 5 s")
    func defaults() {
        #expect(Backoff() == Backoff(initial: .milliseconds(50), maximum: .seconds(5)))
    }
}

@Suite("TopicNames")
struct TopicNamesTests {
    @Test("without a prefix, names are unchanged")
    func noPrefix() {
        let names = TopicNames()
        #expect(names("orders") == "orders")
        #expect(names.groupID(service: "payments", consumer: "orders") == "sagakit.payments.orders")
    }

    @Test("a prefix goes before topics and group ids")
    func prefix() {
        let names = TopicNames(prefix: "run42-")
        #expect(names("orders") == "run42-orders")
        #expect(names.groupID(service: "payments", consumer: "orders") == "run42-sagakit.payments.orders")
    }

    @Test("dead-letter topics add .dlq to the physical topic")
    func deadLetterTopic() {
        let names = TopicNames(prefix: "run42-")
        #expect(DeadLetters.topic(for: names("orders")) == "run42-orders.dlq")
    }
}
