@testable import KafkaClient
import Testing

/// The gate that keeps a producer's handle alive under sends that got in before `close()`.
@Suite("DeliveryRegistry")
struct DeliveryRegistryTests {
    /// Registers a send of no messages: it holds the gate like any other, and needs no waiter.
    private static func enter(_ registry: DeliveryRegistry) -> [UInt]? {
        registry.register({ _ in fatalError("no message to wait for") }, count: 0)
    }

    @Test("a send registered before close holds the handle until it leaves; after close nothing gets in")
    func closeWaitsForRegisteredSenders() throws {
        let registry = DeliveryRegistry()
        #expect(!registry.hasUsers)
        _ = try #require(Self.enter(registry))
        registry.close()
        // Closed, but the sender that registered has not produced yet: the poll thread must not destroy the handle.
        #expect(registry.hasUsers)
        #expect(Self.enter(registry) == nil)
        #expect(registry.whileOpen { true } == nil)
        registry.leave()
        #expect(!registry.hasUsers)
    }

    @Test("whileOpen counts as a user only while its body runs")
    func whileOpenIsScoped() {
        let registry = DeliveryRegistry()
        let inside = registry.whileOpen { registry.hasUsers }
        #expect(inside == true)
        #expect(!registry.hasUsers)
    }
}
