/// Physical topic and group names. A prefix lets several stacks (or test runs) share one cluster without
/// seeing each other's events: `orders` becomes `<prefix>orders`, its dead letters `<prefix>orders.dlq`.
public struct TopicNames: Sendable, Hashable {
    public let prefix: String

    public init(prefix: String = "") {
        self.prefix = prefix
    }

    public func callAsFunction(_ logicalTopic: String) -> String { prefix + logicalTopic }

    /// The consumer group of one of a service's consumers.
    public func groupID(service: String, consumer: String) -> String { "\(prefix)sagakit.\(service).\(consumer)" }
}
