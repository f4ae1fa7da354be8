@testable import SagaKit
import Testing

@Suite("Doorbell")
struct DoorbellTests {
    @Test("a wait after a rung wait lasts its whole timeout: the earlier wait's cancelled timer does not end it")
    func earlierTimerDoesNotEndLaterWait() async {
        let bell = Doorbell()
        var cutShort = 0
        for _ in 0..<20 {
            let ringer = Task {
                try? await Task.sleep(for: .milliseconds(5))
                bell.ring()
            }
            await bell.wait(timeout: .seconds(30))  // ended by the ring; its timer is cancelled
            await ringer.value
            let started = ContinuousClock.now
            await bell.wait(timeout: .milliseconds(100))
            if ContinuousClock.now - started < .milliseconds(90) { cutShort += 1 }
        }
        #expect(cutShort == 0, "\(cutShort) of 20 waits ended early with nobody ringing")
    }

    @Test("a ring ends a wait at once and is not remembered twice")
    func ringEndsWait() async {
        let bell = Doorbell()
        let ringer = Task {
            try? await Task.sleep(for: .milliseconds(50))
            bell.ring()
        }
        let started = ContinuousClock.now
        await bell.wait(timeout: .seconds(30))
        #expect(ContinuousClock.now - started < .seconds(10), "the ring ended the wait")
        await ringer.value
        let again = ContinuousClock.now
        await bell.wait(timeout: .milliseconds(100))
        #expect(ContinuousClock.now - again >= .milliseconds(90), "one ring, one early wake-up")
    }

    @Test("a wait whose timer fires before it has parked still returns (20,000 waits of a nanosecond)")
    func timerBeforePark() async {
        let bell = Doorbell()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for _ in 0..<20_000 { await bell.wait(timeout: .nanoseconds(1)) }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(30))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        // A lost timeout parked the loop until a ring that never comes.
        #expect(finished, "a wait missed its timeout")
    }
}
