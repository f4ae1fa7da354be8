import Foundation
import Loyalty
import OrderSaga
import SagaKit
import Testing

/// Loyalty's rule and contracts, without a database or a broker.
@Suite("Loyalty rule and contracts")
struct LoyaltyRuleTests {
    @Test("points are earned per whole currency unit, times the configured rate, and saturate instead of trapping")
    func pointsRule() {
        let one = Loyalty.Configuration()
        #expect(one.points(forAmountCents: 5999) == 59)
        #expect(one.points(forAmountCents: 99) == 0)
        #expect(one.points(forAmountCents: 100) == 1)
        let two = Loyalty.Configuration(pointsPerUnit: 2)
        #expect(two.points(forAmountCents: 5999) == 118)
        #expect(Loyalty.Configuration(pointsPerUnit: 1000).points(forAmountCents: .max) == .max)
    }

    @Test("Loyalty's events travel in snake_case and decode back through its registry")
    func contracts() throws {
        let awarded = LoyaltyPointsAwarded(orderID: "ORD-1", chargeID: "ch-1", points: 59)
        let envelope = try EventEnvelope(awarded, sagaID: "ORD-1", causationID: nil, producer: Loyalty.name)
        #expect(String(decoding: envelope.payload, as: UTF8.self) == #"{"charge_id":"ch-1","order_id":"ORD-1","points":59}"#)
        #expect(try Loyalty.registry.decode(envelope) as? LoyaltyPointsAwarded == awarded)
        #expect(Loyalty.registry.topic(for: LoyaltyPointsRevoked.eventType) == LoyaltyTopics.loyalty)
    }

    @Test("the registry knows every event type on the payment topic, so the ones Loyalty does not handle are ignored, not dead-lettered")
    func registryCoversThePaymentTopic() {
        for type in OrderSagaEvents.all where type.topic == OrderSagaTopics.payment {
            #expect(Loyalty.registry.contains(type.eventType), "\(type.eventType)")
        }
    }
}
