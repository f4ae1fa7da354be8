import CRdKafka
import Logging

/// The producer's calls. `produce` is thread-safe and non-blocking; `poll` and `flush` serve callbacks and
/// belong to the producer's poll thread.
extension RDKafkaClient {
    /// Creates a producer whose delivery reports resolve the waiters in `context.deliveries`.
    static func makeProducer(properties: [(String, String)], logger: Logger) throws -> RDKafkaClient {
        try RDKafkaClient(kind: .producer, properties: properties, logger: logger) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, rdKafkaDeliveryReportCallback)
        }
    }

    /// Enqueues one message; its delivery report resolves `id` in `context.deliveries`. Returns the error when
    /// librdkafka refused the message at once (then no report will come).
    func produce(_ message: KafkaOutgoingMessage, id: UInt) -> KafkaError? {
        var headers: OpaquePointer? = nil
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    _ = value.withUnsafeBytes { rd_kafka_header_add(headers, header.name, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
                }
            }
        }
        let opaque = UnsafeMutableRawPointer(bitPattern: id)
        let partition = message.partition ?? RD_KAFKA_PARTITION_UA
        let err = withOptionalBytes(message.key) { key, keyLength in
            withOptionalBytes(message.value) { value, valueLength in
                sagakit_produce(handle, message.topic, partition, key, keyLength, value, valueLength, headers, opaque)
            }
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            // On failure the headers are still ours.
            if let headers { rd_kafka_headers_destroy(headers) }
            return KafkaError(err, context: "produce to \(message.topic)")
        }
        return nil
    }

    /// Serves callbacks (delivery reports, errors) for up to the timeout.
    func poll(timeoutMilliseconds: Int32) {
        rd_kafka_poll(handle, timeoutMilliseconds)
    }

    /// Waits up to the timeout for every outstanding message; false when some are still unacknowledged.
    func flush(timeoutMilliseconds: Int32) -> Bool {
        rd_kafka_flush(handle, timeoutMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
}

private let rdKafkaDeliveryReportCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    rk, message, _ in
    guard let context = RDKafkaClientContext.from(rk), let message else { return }
    let id = UInt(bitPattern: message.pointee._private)
    if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
        let topic = String(cString: rd_kafka_topic_name(message.pointee.rkt))
        context.deliveries.resolve(id, .success(KafkaDeliveryReport(topic: topic, partition: message.pointee.partition, offset: message.pointee.offset)))
    } else {
        context.deliveries.resolve(id, .failure(KafkaError(message.pointee.err, context: "delivery")))
    }
}
