import Foundation
import OrderSaga
import OrderSagaTestSupport
import PGClient
import SagaKit
import Testing
import Tracker
import TestSupport

/// Many sagas at once, with and without processes dying. Heavy: run one at a time.
@Suite("Order saga under load and faults", .serialized, .enabled(if: TestEnvironment.hasStack), .timeLimit(.minutes(5)))
struct SagaLoadTests {
    /// Starts the orders from several tasks at once while `during` runs, then waits for every saga to finish and
    /// checks the invariants. Samples stock while running to catch a negative count.
    static func run(
        _ cluster: SagaCluster, orders: [OrderRequest], during: @escaping @Sendable () async throws -> Void = {}
    ) async throws -> [String: String] {
        try await MixedLoad.setStock(cluster)
        async let disruption: Void = during()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slice in 0..<4 {
                let mine = orders.enumerated().filter { $0.offset % 4 == slice }.map(\.element)
                group.addTask { try await cluster.startSagas(mine) }
            }
            try await group.waitForAll()
        }
        let sampler = Task {
            let db = try await cluster.connect(.inventory)
            var samples = 0
            while !Task.isCancelled {
                let negative: Int = try await db.query("SELECT count(*) AS n FROM stock WHERE available < 0 OR reserved < 0 OR fulfilled < 0")[0].decode("n")
                #expect(negative == 0, "a stock count went negative")
                samples += 1
                try? await Task.sleep(for: .milliseconds(200))
            }
            await db.close()
            return samples
        }
        try await disruption
        let states = try await cluster.waitForTerminal(orders.map(\.orderID), timeout: .seconds(180))
        sampler.cancel()
        _ = try await sampler.value
        let truth = try await SagaTruth.settled(cluster, orders: orders)
        truth.checkInvariants(orders: orders, initialStock: MixedLoad.initialStock, projected: states)
        return states
    }

    @Test("200 concurrent mixed sagas all finish, and stock, money and confirmations add up")
    func twoHundredMixedSagas() async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            let orders = MixedLoad.orders(200, prefix: "MIX")
            let states = try await Self.run(cluster, orders: orders)
            let counts = Dictionary(grouping: states.values, by: { $0 }).mapValues(\.count)
            #expect(counts["completed", default: 0] > 0 && counts["compensated", default: 0] > 0 && counts["failed", default: 0] > 0)
            let scarce = orders.filter { $0.sku == "widget-scarce" && $0.quantity < 1000 }
            #expect(scarce.contains { states[$0.orderID] == "failed" }, "the scarce SKU ran out")
        }
    }

    @Test("each service killed with SIGKILL in the middle of 200 sagas, then restarted: every saga ends correctly",
          arguments: SagaCluster.Service.allCases)
    func serviceKilledMidRun(_ victim: SagaCluster.Service) async throws {
        try await SagaCluster.with { cluster in
            try await cluster.startAll()
            let orders = MixedLoad.orders(200, prefix: "KILL-\(victim.rawValue)")
            _ = try await Self.run(cluster, orders: orders) {
                // Once the saga traffic is flowing, kill the service and bring it back.
                try await waitUntil("sagas in flight, some finished") {
                    try await cluster.projectedStates().values.filter { $0 != "running" && $0 != "compensating" }.count >= 30
                }
                let process = cluster.process(victim)
                process.kill9()
                let exit = try await process.waitForExit()
                #expect(exit.signaled)
                try await Task.sleep(for: .milliseconds(500))
                try await cluster.start(victim, waitUntilReady: false)
            }
        }
    }

    @Test("every service set to crash at a crash point mid-run (at least one does, none dies otherwise), then restarted: every saga ends correctly",
          arguments: [CrashPoint.relayAfterFetchBeforePublish, .relayAfterAckBeforeMark, .relayAfterMarkBeforeCommit,
                      .consumerAfterPollBeforeTransaction, .consumerBeforeCommit, .consumerAfterCommitBeforeOffset, .consumerAfterOffsetStore])
    func crashPointMidRun(_ point: CrashPoint) async throws {
        try await SagaCluster.with { cluster in
            // Every service dies the fifth time it reaches the point; a supervisor restarts it without the setting.
            try await cluster.startAll(environment: [CrashPoint.environmentVariable: "\(point.rawValue):@5"])
            let orders = MixedLoad.orders(120, prefix: "CRASH-\(point.rawValue)")
            let restarted = Restarts()
            let supervisor = Task {
                while !Task.isCancelled {
                    for service in SagaCluster.Service.allCases where !cluster.process(service).isRunning {
                        let crashed = cluster.process(service).output.contains("crash point \(point.rawValue) reached")
                        await restarted.add(service, crashed: crashed)
                        try await cluster.start(service, waitUntilReady: false)
                    }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            _ = try await Self.run(cluster, orders: orders)
            supervisor.cancel()
            let crashes = await restarted.crashed
            #expect(!crashes.isEmpty, "the crash point fired in at least one service")
            let unexpected = await restarted.unexpected
            #expect(unexpected.isEmpty, "no service died for another reason: \(unexpected)")
        }
    }
}

actor Restarts {
    var crashed: [SagaCluster.Service] = []
    var unexpected: [SagaCluster.Service] = []

    func add(_ service: SagaCluster.Service, crashed didCrash: Bool) {
        if didCrash { crashed.append(service) } else { unexpected.append(service) }
    }
}
