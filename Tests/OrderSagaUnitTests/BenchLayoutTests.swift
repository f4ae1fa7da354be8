import Foundation
import Testing
import TestSupport

/// `infra/dev bench` runs the fewest processes that keep up: one per service for light open-loop rates, one per
/// partition otherwise (docs/ARCHITECTURE.md, decisions; docs/PERFORMANCE.md).
@Suite("infra/dev bench's processes per service")
struct BenchLayoutTests {
    /// What `bench_instances` in infra/lib/services.sh answers for saga-bench's arguments, with 3 partitions.
    static func instances(_ arguments: [String]) async throws -> String {
        let root = TestEnvironment.repositoryRoot.path
        let output = try await ChildProcess.run(
            URL(fileURLWithPath: "/bin/bash"),
            ["-c", "source \"$SAGAKIT_ROOT/infra/lib/common.sh\" && source \"$SAGAKIT_ROOT/infra/lib/services.sh\" && bench_instances \"$@\"",
             "bench_instances"] + arguments,
            environment: ["SAGAKIT_ROOT": root, "SAGAKIT_PARTITIONS": "3"])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("one process per service up to 500 sagas/s offered, one per partition above, in a closed loop and by default",
          arguments: [
              (["--rate", "100", "--duration", "60s"], "1"), (["--rate=500"], "1"), (["--rate", "2.5"], "1"),
              (["--rate", "500.5"], "3"), (["--rate", "1000", "--with-pgbench"], "3"), (["--concurrency", "4"], "3"), ([], "3"),
          ])
    func bySagaRate(arguments: [String], expected: String) async throws {
        #expect(try await Self.instances(arguments) == expected, "bench_instances \(arguments)")
    }
}
