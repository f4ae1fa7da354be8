import Foundation
import KafkaClient
import SagaKit
import Testing

/// Dead letters read back (`DeadLetter`), filtered, and turned into a redrive: the pure parts of the dead-letter
/// commands.
@Suite("Dead letters read back and redriven")
struct DeadLetterReadingTests {
    static let envelope = EventEnvelope(
        eventID: UUID(uuidString: "0190f5d4-8b3d-7c5e-9f60-7a8b9c0d1e2f")!, eventType: "OrderPlaced", schemaVersion: 2, sagaID: "ORD-7",
        causationID: nil, producer: "tracker", payload: Array(#"{"email":"secret@example.com"}"#.utf8))

    /// A dead letter as a consumer would publish it, read back at `orders.dlq` partition 1, offset 7.
    static func stored(value: [UInt8]?, key: String? = "ORD-7", reason: String = "schema violation: x", at date: Date = Date(timeIntervalSince1970: 1_700_000_000)) -> KafkaMessage {
        let original = KafkaMessage(
            topic: "orders", partition: 2, offset: 41, key: key.map { Array($0.utf8) }, value: value,
            headers: [KafkaHeader(name: "traceparent", string: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                      KafkaHeader(name: "sagakit-event-type", string: "OrderPlaced")])
        let letter = DeadLetters.message(for: original, reason: reason, service: "inventory", consumer: "saga", at: date)
        return KafkaMessage(topic: letter.topic, partition: 1, offset: 7, key: letter.key, value: letter.value, headers: letter.headers)
    }

    @Test("the headers and the envelope's frame become a DeadLetter; the payload does not")
    func parsesEnvelope() throws {
        let letter = try #require(DeadLetter(Self.stored(value: Self.envelope.encoded())))
        #expect(letter.id == "orders.dlq:1:7")
        #expect(letter.service == "inventory" && letter.consumer == "saga" && letter.reason == "schema violation: x")
        #expect(letter.sourceTopic == "orders" && letter.sourcePartition == 2 && letter.sourceOffset == 41 && letter.source == "orders:2:41")
        #expect(letter.key == "ORD-7")
        #expect(letter.time == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(letter.eventType == "OrderPlaced" && letter.sagaID == "ORD-7" && letter.eventID == "0190f5d4-8b3d-7c5e-9f60-7a8b9c0d1e2f")
        #expect(letter.valueBytes == Self.envelope.encoded().count && !letter.valueTruncated && !letter.keyTruncated && letter.headersDropped == 0)
        #expect(letter.headerNames.first == "traceparent" && letter.headerNames.contains(DeadLetters.sourceOffsetHeader))
        let json = String(decoding: try JSONEncoder().encode(letter), as: UTF8.self)
        #expect(!json.contains("secret@example.com"), "no payload in the JSON: \(json)")
        for key in ["\"source_topic\"", "\"source_partition\"", "\"source_offset\"", "\"value_truncated\":false", "\"event_id\"", "\"saga_id\"", "\"header_names\""] {
            #expect(json.contains(key), "\(key) in \(json)")
        }
    }

    @Test("a value that is no envelope gives no event fields; no value at all, no size")
    func notAnEnvelope() throws {
        let poison = try #require(DeadLetter(Self.stored(value: Array("not JSON".utf8))))
        #expect(poison.eventType == nil && poison.eventID == nil && poison.sagaID == nil && poison.valueBytes == 8)
        let empty = try #require(DeadLetter(Self.stored(value: nil, key: nil)))
        #expect(empty.valueBytes == nil && empty.key == nil)
        let json = String(decoding: try JSONEncoder().encode(empty), as: UTF8.self)
        #expect(json.contains("\"event_type\":null") && json.contains("\"key\":null"), "absent values are explicit nulls: \(json)")
    }

    @Test("a cut value or key is flagged with the original size; a message without the source headers is no dead letter")
    func truncationAndStrangers() throws {
        let big = try #require(DeadLetter(Self.stored(value: Array(repeating: 0x78, count: DeadLetters.maxValueBytes + 10), key: String(repeating: "k", count: 2000))))
        #expect(big.valueTruncatedFrom == DeadLetters.maxValueBytes + 10 && big.valueBytes == DeadLetters.maxValueBytes && big.valueTruncated)
        #expect(big.keyTruncatedFrom == 2000 && big.keyTruncated)
        #expect(DeadLetter(KafkaMessage(topic: "orders.dlq", partition: 0, offset: 0, key: nil, value: [1], headers: [])) == nil)
    }

    @Test("ids are <dlq topic>:<partition>:<offset>; anything else is refused")
    func ids() {
        let parsed = DeadLetter.parseID("run1-orders.dlq:2:15")
        #expect(parsed?.topic == "run1-orders.dlq" && parsed?.partition == 2 && parsed?.offset == 15)
        for bad in ["", "orders.dlq", "orders.dlq:1", "orders.dlq:x:1", "orders.dlq:1:-1", ":1:1", "orders.dlq:1:1:1", "orders.dlq:-1:0"] {
            #expect(DeadLetter.parseID(bad) == nil, "\(bad)")
        }
    }

    @Test("filters keep what is recent enough and from the topic asked, newest first, up to the limit")
    func filters() throws {
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        var letters: [DeadLetter] = []
        for (offset, seconds) in [0, 60, 120].enumerated() {
            var letter = try #require(DeadLetter(Self.stored(value: Array("x".utf8), at: base.addingTimeInterval(Double(seconds)))))
            letter.offset = Int64(offset)
            letter.id = DeadLetter.id(topic: letter.topic, partition: letter.partition, offset: letter.offset)
            letters.append(letter)
        }
        letters[1].sourceTopic = "payment"
        #expect(DeadLetterFilter().apply(letters).map(\.offset) == [2, 1, 0])
        #expect(DeadLetterFilter(since: base.addingTimeInterval(60)).apply(letters).map(\.offset) == [2, 1])
        #expect(DeadLetterFilter(sourceTopic: "orders").apply(letters).map(\.offset) == [2, 0])
        #expect(DeadLetterFilter(limit: 1).apply(letters).map(\.offset) == [2])
        #expect(DeadLetterFilter(since: base.addingTimeInterval(1000)).apply(letters).isEmpty)
    }

    @Test("a redrive sends the original key, value and headers to the source partition, with where it came from and who sent it")
    func redriveMessage() throws {
        let message = Self.stored(value: Self.envelope.encoded())
        let stored = try #require(StoredDeadLetter(message))
        let out = try DeadLetterRedrive.message(for: stored, actor: "alice")
        #expect(out.topic == "orders" && out.partition == 2)
        #expect(out.key == Array("ORD-7".utf8) && out.value == Self.envelope.encoded())
        #expect(out.headers.map(\.name) == ["traceparent", "sagakit-event-type", DeadLetterRedrive.redrivenFromHeader, DeadLetterRedrive.redrivenByHeader])
        #expect(out.headers.string(DeadLetterRedrive.redrivenFromHeader) == "orders.dlq:1:7" && out.headers.string(DeadLetterRedrive.redrivenByHeader) == "alice")

        // A redriven message dead-lettered again and redriven again carries only the latest redrive's headers.
        var again = DeadLetters.message(
            for: KafkaMessage(topic: out.topic, partition: 2, offset: 90, key: out.key, value: out.value, headers: out.headers),
            reason: "again", service: "inventory", consumer: "saga")
        again.headers.append(KafkaHeader(name: "unrelated", string: "kept"))
        let second = try DeadLetterRedrive.message(
            for: try #require(StoredDeadLetter(KafkaMessage(topic: again.topic, partition: 0, offset: 3, key: again.key, value: again.value, headers: again.headers))),
            actor: "bob")
        #expect(second.headers.filter { $0.name == DeadLetterRedrive.redrivenFromHeader }.map(\.stringValue) == ["orders.dlq:0:3"])
        #expect(second.headers.filter { $0.name == DeadLetterRedrive.redrivenByHeader }.map(\.stringValue) == ["bob"])
        #expect(second.headers.contains { $0.name == "unrelated" })
    }

    @Test("a dead letter holding part of its message is refused, naming where the whole one is")
    func redriveRefusesTruncated() throws {
        let big = try #require(StoredDeadLetter(Self.stored(value: Array(repeating: 0x78, count: DeadLetters.maxValueBytes + 1))))
        let refused = #expect(throws: DeadLetterRedrive.Refused.self) { _ = try DeadLetterRedrive.message(for: big, actor: "alice") }
        let text = refused?.description ?? ""
        #expect(text.contains("orders partition 2 at offset 41") && text.contains("\(DeadLetters.maxValueBytes + 1)") && !text.contains("\n"), "\(text)")
        let longKey = try #require(StoredDeadLetter(Self.stored(value: Array("x".utf8), key: String(repeating: "k", count: 1500))))
        #expect(throws: DeadLetterRedrive.Refused.self) { _ = try DeadLetterRedrive.message(for: longKey, actor: "alice") }
    }
}
