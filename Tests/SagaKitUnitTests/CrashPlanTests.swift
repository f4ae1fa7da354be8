@testable import SagaKit
import Testing

@Suite("CrashPlan")
struct CrashPlanTests {
    private func parseError(_ text: String) -> String? {
        do {
            _ = try CrashPlan.parse(text, seed: 0)
            return nil
        } catch {
            return (error as? CrashPlan.ParseError)?.description ?? "unexpected error \(error)"
        }
    }

    @Test("parses probabilities, nth hits and a bare name, ignoring blanks and spaces")
    func parses() throws {
        let plan = try CrashPlan.parse(" relay.after_ack_before_mark:0.5 , consumer.before_db_commit:@3,,start.after_commit_before_response ", seed: 1)
        #expect(plan.rules == [
            .relayAfterAckBeforeMark: .probability(0.5),
            .consumerBeforeCommit: .nthHit(3),
            .startAfterCommitBeforeResponse: .probability(1),
        ])
    }

    @Test("an empty setting has no rules")
    func empty() throws {
        #expect(try CrashPlan.parse("", seed: 0).rules.isEmpty)
        #expect(try CrashPlan.parse(" , ", seed: 0).rules.isEmpty)
    }

    @Test("every crash point's name parses to that point")
    func everyName() throws {
        for point in CrashPoint.allCases {
            #expect(try CrashPlan.parse("\(point.rawValue):@1", seed: 0).rules == [point: .nthHit(1)])
        }
    }

    @Test("an unknown name is an error that names it and lists every known name")
    func unknownName() throws {
        let message = try #require(parseError("relay.after_ack_before_mark:0.5,relay.after_ack:1"))
        #expect(message.hasPrefix("unknown crash point 'relay.after_ack'; known: "))
        for point in CrashPoint.allCases {
            #expect(message.contains(point.rawValue))
        }
        #expect(parseError("Relay.After_Ack_Before_Mark") != nil)
    }

    @Test("probabilities must be between 0 and 1", arguments: ["1.5", "-0.1", "2", "nan", "inf", "x", "0.5x"])
    func badProbability(spec: String) {
        #expect(parseError("consumer.before_db_commit:\(spec)") == "crash point consumer.before_db_commit: probability must be between 0 and 1")
    }

    @Test("an empty value after the colon is rejected, not read as probability 1")
    func emptySpec() {
        #expect(parseError("consumer.before_db_commit:") == "crash point consumer.before_db_commit: probability must be between 0 and 1")
    }

    @Test("the bounds 0 and 1 are valid probabilities")
    func probabilityBounds() throws {
        #expect(try CrashPlan.parse("consumer.before_db_commit:0", seed: 0).rules == [.consumerBeforeCommit: .probability(0)])
        #expect(try CrashPlan.parse("consumer.before_db_commit:1", seed: 0).rules == [.consumerBeforeCommit: .probability(1)])
        #expect(try CrashPlan.parse("consumer.before_db_commit:1.0", seed: 0).rules == [.consumerBeforeCommit: .probability(1)])
    }

    @Test("@n needs a whole n of at least 1", arguments: ["@0", "@-1", "@", "@x", "@1.5"])
    func badNth(spec: String) {
        #expect(parseError("consumer.before_db_commit:\(spec)") == "crash point consumer.before_db_commit: '@n' needs n >= 1")
    }

    @Test("@n fires exactly at the n-th hit and never again", arguments: [1, 3, 10])
    func nthHit(n: Int) throws {
        let plan = try CrashPlan.parse("consumer.before_db_commit:@\(n)", seed: 7)
        let fired = (1...(n + 50)).filter { _ in plan.shouldCrash(.consumerBeforeCommit) }
        #expect(fired == [n])
    }

    @Test("points count their hits separately")
    func separateCounts() throws {
        let plan = try CrashPlan.parse("consumer.before_db_commit:@2,relay.after_ack_before_mark:@2", seed: 0)
        #expect(plan.shouldCrash(.consumerBeforeCommit) == false)
        #expect(plan.shouldCrash(.relayAfterAckBeforeMark) == false)
        #expect(plan.shouldCrash(.consumerBeforeCommit) == true)
        #expect(plan.shouldCrash(.relayAfterAckBeforeMark) == true)
    }

    @Test("a point without a rule never fires")
    func unlistedPoint() throws {
        let plan = try CrashPlan.parse("consumer.before_db_commit:1", seed: 0)
        for _ in 0..<100 {
            #expect(plan.shouldCrash(.relayAfterAckBeforeMark) == false)
        }
    }

    @Test("probability 0 never fires and probability 1 always fires")
    func probabilityExtremes() throws {
        for seed: UInt64 in [0, 1, 42, .max] {
            let never = try CrashPlan.parse("consumer.before_db_commit:0", seed: seed)
            let always = try CrashPlan.parse("consumer.before_db_commit:1", seed: seed)
            #expect((0..<2_000).allSatisfy { _ in !never.shouldCrash(.consumerBeforeCommit) })
            #expect((0..<2_000).allSatisfy { _ in always.shouldCrash(.consumerBeforeCommit) })
        }
    }

    @Test("a probability fires at about that rate")
    func probabilityRate() throws {
        let plan = try CrashPlan.parse("consumer.before_db_commit:0.25", seed: 99)
        let fired = (0..<20_000).filter { _ in plan.shouldCrash(.consumerBeforeCommit) }.count
        #expect((4_500...5_500).contains(fired), "fired \(fired) of 20000")
    }

    private func schedule(seed: UInt64, hits: Int = 200) throws -> [Bool] {
        let plan = try CrashPlan.parse("relay.after_fetch_before_publish:0.5", seed: seed)
        return (0..<hits).map { _ in plan.shouldCrash(.relayAfterFetchBeforePublish) }
    }

    @Test("the same seed gives the same schedule; another seed a different one")
    func seeded() throws {
        let a = try schedule(seed: 42)
        #expect(a == (try schedule(seed: 42)))
        #expect(a != (try schedule(seed: 43)))
        #expect(a.contains(true) && a.contains(false))
    }

    // MARK: - SplitMix64

    @Test("SplitMix64 produces the reference sequence")
    func splitMixReference() {
        // Reference outputs of Vigna's splitmix64.c for seed 0.
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(rng.next() == 0x06C4_5D18_8009_454F)
    }

    @Test("SplitMix64.nextDouble stays in [0, 1) and repeats for a seed")
    func splitMixDouble() {
        var a = SplitMix64(seed: 12345)
        var b = SplitMix64(seed: 12345)
        for _ in 0..<10_000 {
            let x = a.nextDouble()
            #expect(x >= 0 && x < 1)
            #expect(x == b.nextDouble())
        }
    }

    @Test("crash point names are the documented environment spellings")
    func environmentNames() {
        #expect(CrashPoint.environmentVariable == "SAGAKIT_CRASH_POINTS")
        #expect(CrashPoint.seedVariable == "SAGAKIT_CRASH_SEED")
        #expect(Set(CrashPoint.allCases.map(\.rawValue)).count == CrashPoint.allCases.count)
    }
}
