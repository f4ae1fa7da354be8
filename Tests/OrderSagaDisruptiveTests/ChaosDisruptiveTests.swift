import Foundation
import Testing
import TestSupport

/// The fault campaign at CI's scale: `infra/dev chaos` (infra/lib/chaos.py) with 500 mixed sagas, two processes per
/// service, kill -9 every 2-8 s, a relay paused past its lease, a PostgreSQL restart and a broker restart with the
/// automatic recovery; then saga-check. It empties the shared stack's service databases and restarts its servers,
/// so it runs with the disruptive suites, alone. `infra/dev chaos` with its defaults runs the same at scale.
@Suite("Fault campaign", .serialized,
       .enabled(if: TestEnvironment.hasStack && TestEnvironment.value("SAGAKIT_DISRUPTIVE") == "1"), .timeLimit(.minutes(15)))
struct ChaosDisruptiveTests {
    @Test("500 mixed sagas through kills, a paused relay, a PostgreSQL and a broker restart: every saga ends as its scenario says, saga-check finds nothing")
    func campaign() async throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("sagakit-chaos-\(UUID().uuidString.prefix(8)).json")
        defer { try? FileManager.default.removeItem(at: report) }
        let child = try ChildProcess.start(URL(fileURLWithPath: TestEnvironment.devScript),
                                           ["chaos", "--sagas", "500", "--minutes", "2.5", "--json-out", report.path],
                                           environment: ["SAGAKIT_SKIP_BUILD": "1"], label: "chaos")
        let exit = try await child.waitForExit(timeout: .seconds(840))
        let data = try Data(contentsOf: report)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(child.tail(60))")
        #expect(exit.status == 0, "\(child.tail(60))")
        #expect(json["passed"] as? Bool == true, "\(String(decoding: data, as: UTF8.self))")
        #expect(json["sagas_started"] as? Int == 500 && json["sagas_checked"] as? Int == 500)
        #expect(json["violations"] as? Int == 0 && json["unexpected_outcomes"] as? Int == 0)
        #expect(json["quiescent"] as? Bool == true)
        let faults = json["faults"] as? [String: Int] ?? [:]
        #expect((faults["kill9"] ?? 0) >= 10, "kills every 2-8 s: \(faults)")
        #expect(faults["relay_pause"] == 1 && faults["pg_restart"] == 1 && faults["broker_restart"] == 1, "\(faults)")
    }
}
