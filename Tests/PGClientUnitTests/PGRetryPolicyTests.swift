import PGClient
import Testing

/// The one retry loop behind `withTransaction` and single-statement work: which errors run the work again, and
/// how often. Pure logic: the errors are built by hand, so no server is needed.
@Suite("PGClient retry policy")
struct PGRetryPolicyTests {
    private static let deadlock = PGError(code: .server, message: "deadlock detected", sqlState: "40P01")
    private static let lost = PGError(code: .connectionLost, message: "server closed the connection")
    private static let unique = PGError(code: .server, message: "duplicate key", sqlState: "23505")
    private static let fast = PGRetryPolicy(maxAttempts: 4, initialDelay: .microseconds(10), maxDelay: .microseconds(50))

    /// Counts attempts; a class so the non-Sendable body can change it in the caller's isolation.
    private final class Attempts {
        var count = 0
    }

    @Test("a deadlock runs the work again until it succeeds")
    func deadlockIsRetried() async throws {
        let attempts = Attempts()
        var retried: [Int] = []
        let value = try await Self.fast.run(onRetry: { attempt, error, _ in
            #expect(error.sqlState == "40P01")
            retried.append(attempt)
        }) {
            attempts.count += 1
            if attempts.count < 3 { throw Self.deadlock }
            return "done"
        }
        #expect(value == "done")
        #expect(attempts.count == 3)
        #expect(retried == [1, 2])
    }

    @Test("the last attempt's error is thrown once maxAttempts have run")
    func attemptsAreBounded() async {
        let attempts = Attempts()
        let retries = Attempts()
        let error = await #expect(throws: PGError.self) {
            try await Self.fast.run(onRetry: { _, _, _ in retries.count += 1 }) { () async throws -> Int in
                attempts.count += 1
                throw Self.deadlock
            }
        }
        #expect(error?.sqlState == "40P01")
        #expect(attempts.count == 4)
        // No wait after the last attempt: it throws at once.
        #expect(retries.count == 3)
    }

    @Test("other errors are thrown at once; a lost connection only with onConnectionLoss")
    func onlyRetriableErrorsRunAgain() async {
        for (policy, error, expected) in [(Self.fast, Self.unique, 1), (Self.fast, Self.lost, 1)] {
            let attempts = Attempts()
            await #expect(throws: PGError.self) {
                try await policy.run { () async throws -> Int in
                    attempts.count += 1
                    throw error
                }
            }
            #expect(attempts.count == expected)
        }
        var reconnecting = Self.fast
        reconnecting.onConnectionLoss = true
        let attempts = Attempts()
        let value = try? await reconnecting.run { () async throws -> Int in
            attempts.count += 1
            if attempts.count == 1 { throw Self.lost }
            return 7
        }
        #expect(value == 7)
        #expect(attempts.count == 2)
        #expect(reconnecting.retries(Self.lost))
        #expect(!Self.fast.retries(Self.lost))
        #expect(!reconnecting.retries(Self.unique))
    }
}
