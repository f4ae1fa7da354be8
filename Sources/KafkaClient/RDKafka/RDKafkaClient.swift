import CRdKafka
import Foundation
import Logging

/// What librdkafka's callbacks reach through the configuration's single opaque pointer. It outlives the
/// `rd_kafka_t` it belongs to: the owner destroys the handle before releasing the context.
final class RDKafkaClientContext: Sendable {
    let logger: Logger
    /// Producers resolve delivery reports through it.
    let deliveries = DeliveryRegistry()
    /// Consumers record what their rebalance callback did.
    let rebalance = RebalanceState()

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ rk: OpaquePointer?) -> RDKafkaClientContext? {
        guard let rk, let opaque = rd_kafka_opaque(rk) else { return nil }
        return Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// Owns one `rd_kafka_t`.
///
/// @unchecked Sendable: librdkafka documents its handle as thread-safe for the calls made through this type
/// (produce, poll, flush, metadata and admin requests); consumer-only calls are made from `KafkaConsumer`'s
/// own executor. `destroy` is not safe against any other call: its owner calls it last, from one thread, once
/// nothing else can reach the handle (a producer waits for its `DeliveryRegistry` to have no users).
final class RDKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    let context: RDKafkaClientContext

    enum Kind { case producer, consumer }

    /// Builds the configuration, applying properties in order, and creates the handle. librdkafka checks each
    /// property here, so a bad name or value fails with its own message before anything connects.
    init(kind: Kind, properties: [(String, String)], logger: Logger, configure: (OpaquePointer) -> Void = { _ in }) throws {
        let context = RDKafkaClientContext(logger: logger)
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .configuration, message: "rd_kafka_conf_new failed")
        }
        let errstr = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
        defer { errstr.deallocate() }
        do {
            try Self.apply(properties, to: conf)
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
        configure(conf)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, errstr, 512) else {
            // rd_kafka_new frees the configuration only on success.
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: .configuration, message: String(cString: errstr))
        }
        self.handle = handle
        self.context = context
    }

    /// Sets each property on a scratch configuration and throws librdkafka's message for the first bad one.
    static func validate(_ properties: [(String, String)]) throws {
        guard let conf = rd_kafka_conf_new() else { return }
        defer { rd_kafka_conf_destroy(conf) }
        try apply(properties, to: conf)
    }

    private static func apply(_ properties: [(String, String)], to conf: OpaquePointer) throws {
        let errstr = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
        defer { errstr.deallocate() }
        for (key, value) in properties {
            if rd_kafka_conf_set(conf, key, value, errstr, 512) != RD_KAFKA_CONF_OK {
                let reason = String(cString: errstr)
                let shown = KafkaConfiguration.isSecret(key) ? "invalid value for \(key)" : reason
                throw KafkaError(code: .configuration, message: "configuration property \(key): \(shown)")
            }
        }
    }

    /// librdkafka's fatal error, if one was raised (an idempotent producer fenced or out of sequence).
    func fatalError() -> KafkaError? {
        let errstr = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
        defer { errstr.deallocate() }
        let err = rd_kafka_fatal_error(handle, errstr, 512)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError(code: .librdkafka, message: String(cString: errstr), rdKafkaCode: err.rawValue, isFatal: true)
    }

    /// Blocks; call it from a thread the caller owns.
    func destroy() {
        rd_kafka_destroy(handle)
    }
}

// Callbacks run on librdkafka's threads (log) or inside poll calls (error), never on the cooperative pool.

private let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let context = RDKafkaClientContext.from(rk), let message else { return }
    let swiftLevel: Logger.Level
    switch level {
    case ...2: swiftLevel = .critical
    case 3: swiftLevel = .error
    case 4: swiftLevel = .warning
    case 5: swiftLevel = .notice
    case 6: swiftLevel = .info
    default: swiftLevel = .debug
    }
    context.logger.log(
        level: swiftLevel,
        "\(String(cString: message))",
        metadata: ["kafka.facility": .string(facility.map { String(cString: $0) } ?? "")]
    )
}

private let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, reason, _ in
    guard let context = RDKafkaClientContext.from(rk) else { return }
    let code = rd_kafka_resp_err_t(rawValue: err)
    let text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
    // Transport errors repeat while a broker is away; librdkafka retries them on its own.
    let level: Logger.Level = code == RD_KAFKA_RESP_ERR__FATAL ? .error : .warning
    context.logger.log(level: level, "librdkafka: \(text)", metadata: ["kafka.error": .string(String(cString: rd_kafka_err2name(code)))])
}

extension RDKafkaClient {
    /// The low and high watermarks of a partition, asked of the broker. Blocks up to the timeout.
    func watermarks(topic: String, partition: Int32, timeoutMilliseconds: Int32, context: String) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, timeoutMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: context) }
        return (low, high)
    }

    /// The watermarks librdkafka last saw in fetch responses: no request, no wait. Nil until a fetch brought them.
    func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        guard rd_kafka_get_watermark_offsets(handle, topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }
}
