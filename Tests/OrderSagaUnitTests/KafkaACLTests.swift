import ArgumentParser
import Inventory
import Notification
import OrderSaga
import Payment
import SagaKit
import SagaKitService
import Testing
import TestSupport
import Tracker

/// The Kafka ACLs of docs/OPERATIONS.md and infra/docker-compose.yml are the ones the code needs: each service
/// writes the topic of the events it constructs and the dead-letter topics of what it reads, reads what its
/// consumers subscribe to, and uses its own groups. Pure: no broker here enforces ACLs.
@Suite("Kafka ACLs")
struct KafkaACLTests {
    struct ACL: Hashable, Comparable, CustomStringConvertible {
        var principal: String
        var operation: String
        /// `topic`, `group` or `group prefix`.
        var resource: String
        var name: String

        static func < (a: ACL, b: ACL) -> Bool { a.description < b.description }
        var description: String { "User:\(principal) \(operation) \(resource) \(name)" }
    }

    struct Service {
        var name: String
        var module: String
        var consumers: [ConsumerDefinition]
    }

    static func services() throws -> [Service] {
        let logger = TestEnvironment.quietLogger
        let topics = TopicNames()
        return [
            Service(name: Tracker.name, module: "Tracker",
                    consumers: try Tracker.consumers(ParticipantContext(configuration: Tracker.Configuration(), topics: topics, logger: logger))),
            Service(name: Inventory.name, module: "Inventory",
                    consumers: try Inventory.consumers(ParticipantContext(topics: topics, logger: logger))),
            Service(name: Payment.name, module: "Payment",
                    consumers: try Payment.consumers(ParticipantContext(configuration: Payment.Configuration(), topics: topics, logger: logger))),
            Service(name: Notification.name, module: "Notification",
                    consumers: try Notification.consumers(ParticipantContext(
                        configuration: Notification.Configuration(spoolDirectory: RepositoryFiles.existingFolder), topics: topics, logger: logger))),
        ]
    }

    /// The topics whose events a module's code constructs (comments aside).
    static func producedTopics(module: String) throws -> Set<String> {
        var topics = Set<String>()
        for type in try producedEventTypes(module: module) { topics.insert(type.topic) }
        return topics
    }

    /// The event types a service's module builds (`InventoryReserved(`), outside comments.
    static func producedEventTypes(module: String) throws -> [any SagaEvent.Type] {
        let code = try RepositoryFiles.swiftSources(module: module)
            .flatMap { $0.split(separator: "\n") }
            .filter { !$0.drop(while: { $0 == " " }).hasPrefix("//") }
            .joined(separator: "\n")
        var types: [any SagaEvent.Type] = []
        for type in OrderSagaEvents.all where code.contains(try Regex("\\b\(type.eventType)\\(")) { types.append(type) }
        return types
    }

    /// What the code needs.
    static func expected() throws -> Set<ACL> {
        var acls = Set<ACL>()
        for service in try services() {
            for topic in try producedTopics(module: service.module) {
                acls.insert(ACL(principal: service.name, operation: "Write", resource: "topic", name: topic))
            }
            for consumer in service.consumers {
                acls.insert(ACL(principal: service.name, operation: "Read", resource: "group",
                                name: TopicNames().groupID(service: service.name, consumer: consumer.name)))
                for topic in consumer.topics {
                    acls.insert(ACL(principal: service.name, operation: "Read", resource: "topic", name: topic))
                    acls.insert(ACL(principal: service.name, operation: "Write", resource: "topic", name: DeadLetters.topic(for: topic)))
                    // `<service> dead-letters` reads them back (holding nothing the topics it reads do not).
                    acls.insert(ACL(principal: service.name, operation: "Read", resource: "topic", name: DeadLetters.topic(for: topic)))
                }
            }
            acls.insert(ACL(principal: service.name, operation: "Read", resource: "group prefix", name: Replay.inspectGroupPrefix))
            acls.insert(ACL(principal: service.name, operation: "Read", resource: "group prefix", name: DeadLetterReader.groupPrefix))
        }
        // The tracker projects every dead-letter topic through a group of its own.
        for topic in DeadLetterStore.topics {
            acls.insert(ACL(principal: Tracker.name, operation: "Read", resource: "topic", name: topic))
        }
        acls.insert(ACL(principal: Tracker.name, operation: "Read", resource: "group",
                        name: TopicNames().groupID(service: Tracker.name, consumer: DeadLetterStore.consumerName)))
        // The tracker's rebuild reads through a group of its own beside the live one, and deletes it afterwards.
        let rebuildGroups = TopicNames().groupID(service: Tracker.name, consumer: "projection") + ProjectionRebuild.groupSuffix
        acls.insert(ACL(principal: Tracker.name, operation: "Read", resource: "group prefix", name: rebuildGroups))
        acls.insert(ACL(principal: Tracker.name, operation: "Delete", resource: "group prefix", name: rebuildGroups))
        return acls
    }

    /// The `acl USER OPERATION topic|group NAME [prefixed]` lines of the compose file's kafka-setup service.
    static func composeACLs() throws -> Set<ACL> {
        let line = try Regex(#"^\s*acl\s+(\S+)\s+(\S+)\s+(topic|group)\s+(\S+)(\s+prefixed)?\s*$"#)
        var acls = Set<ACL>()
        for text in try RepositoryFiles.text("infra/docker-compose.yml").split(separator: "\n") {
            guard let match = try line.wholeMatch(in: text) else { continue }
            let resource = String(match.output[3].substring!) + (match.output[5].substring == nil ? "" : " prefix")
            acls.insert(ACL(principal: String(match.output[1].substring!), operation: String(match.output[2].substring!),
                            resource: resource, name: String(match.output[4].substring!)))
        }
        return acls
    }

    /// The rows of the table in docs/OPERATIONS.md's "Kafka ACLs" section, one ACL per principal and name.
    static func documentedACLs() throws -> (acls: Set<ACL>, superUsers: [String]) {
        let document = try RepositoryFiles.text("docs/OPERATIONS.md")
        let start = try #require(document.firstRange(of: "\n## Kafka ACLs\n"))
        let section = document[start.upperBound...].split(separator: "\n## ", maxSplits: 1).first ?? ""
        var acls = Set<ACL>()
        var superUsers: [String] = []
        for row in section.split(separator: "\n") where row.hasPrefix("| `User:") {
            let cells = row.split(separator: "|").map { String($0.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }
            let principals = cells[0].matches(of: #/User:(\w+)/#).map { String($0.output.1) }
            if cells[1] == "super user" {
                superUsers += principals
                continue
            }
            let names = cells[3].matches(of: #/`([^`]+)`/#).map { String($0.output.1) }
            for principal in principals {
                for name in names { acls.insert(ACL(principal: principal, operation: cells[1], resource: cells[2], name: name)) }
            }
        }
        return (acls, superUsers)
    }

    @Test("every topic has exactly one writer among the services, and every event type a producer")
    func oneWriterPerTopic() throws {
        var writers: [String: [String]] = [:]
        for service in try Self.services() {
            for topic in try Self.producedTopics(module: service.module) { writers[topic, default: []].append(service.name) }
        }
        #expect(Set(writers.keys) == Set(OrderSagaTopics.all))
        for (topic, names) in writers { #expect(names.count == 1, "\(topic) is written by \(names)") }
        #expect(writers[OrderSagaTopics.orders] == [Tracker.name])
        #expect(writers[OrderSagaTopics.inventory] == [Inventory.name])
        #expect(writers[OrderSagaTopics.payment] == [Payment.name])
        #expect(writers[OrderSagaTopics.notification] == [Notification.name])
        // Every event type has a producer, and only the owner of its topic builds it.
        var producers: [String: [String]] = [:]
        for service in try Self.services() {
            for type in try Self.producedEventTypes(module: service.module) { producers[type.eventType, default: []].append(service.name) }
        }
        let allTypes = Set(OrderSagaEvents.all.map { $0.eventType })
        #expect(Set(producers.keys) == allTypes, "event types nobody produces")
        for type in OrderSagaEvents.all {
            let owner = writers[type.topic] ?? []
            #expect(producers[type.eventType] == owner, "\(type.eventType): \(producers[type.eventType] ?? [])")
        }
    }

    @Test("the compose file grants exactly what the code needs")
    func composeMatchesCode() throws {
        let expected = try Self.expected()
        let granted = try Self.composeACLs()
        #expect(granted.subtracting(expected).sorted() == [], "granted but not needed")
        #expect(expected.subtracting(granted).sorted() == [], "needed but not granted")
    }

    @Test("docs/OPERATIONS.md lists exactly what the code needs, and only the admin is a super user")
    func documentationMatchesCode() throws {
        let expected = try Self.expected()
        let (documented, superUsers) = try Self.documentedACLs()
        #expect(documented.subtracting(expected).sorted() == [], "documented but not needed")
        #expect(expected.subtracting(documented).sorted() == [], "needed but not documented")
        #expect(superUsers == ["admin"])
    }

    @Test("the compose broker denies by default, has one SCRAM user per service plus the admin, and creates the saga's topics")
    func composeBroker() throws {
        let compose = try RepositoryFiles.text("infra/docker-compose.yml")
        for setting in [
            "KAFKA_AUTHORIZER_CLASS_NAME: org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND: \"false\"",
            "KAFKA_SUPER_USERS: User:admin",
            "KAFKA_LISTENER_NAME_EXTERNAL_SASL_ENABLED_MECHANISMS: SCRAM-SHA-512",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE: \"false\"",
        ] {
            #expect(compose.contains(setting), "\(setting)")
        }
        let users = try #require(compose.firstMatch(of: #/for user in ([a-z ]+); do/#)).output.1.split(separator: " ").map(String.init)
        #expect(Set(users) == Set(try Self.services().map(\.name) + ["admin"]))
        #expect(Set(try Self.composeACLs().map(\.principal)).isSubset(of: Set(users)))
        let topics = try #require(compose.firstMatch(of: #/for topic in ([a-z ]+); do/#)).output.1.split(separator: " ").map(String.init)
        #expect(topics == OrderSagaTopics.all)
    }
}
