import CRdKafka

/// Errors built from librdkafka's codes and error objects.
extension KafkaError {
    init(_ err: rd_kafka_resp_err_t, context: String? = nil) {
        let text = String(cString: rd_kafka_err2str(err))
        let retriable = KafkaError.retriableCodes.contains(err.rawValue)
        self.init(
            code: err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? .timeout : .librdkafka,
            message: context.map { "\($0): \(text)" } ?? text,
            rdKafkaCode: err.rawValue,
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL,
            isRetriable: retriable
        )
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer, context: String? = nil) {
        defer { rd_kafka_error_destroy(error) }
        let text = String(cString: rd_kafka_error_string(error))
        self.init(
            code: .librdkafka,
            message: context.map { "\($0): \(text)" } ?? text,
            rdKafkaCode: rd_kafka_error_code(error).rawValue,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0
        )
    }

    /// Codes worth retrying: the message or request may succeed later without any change on our side.
    fileprivate static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR__TRANSPORT.rawValue, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue,
        RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND.rawValue,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue, RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS.rawValue, RD_KAFKA_RESP_ERR__WAIT_COORD.rawValue,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue, RD_KAFKA_RESP_ERR__PURGE_QUEUE.rawValue,
        RD_KAFKA_RESP_ERR__PURGE_INFLIGHT.rawValue,
    ]
}

/// The codes SagaKit checks outside the Kafka layer, named after librdkafka's enum (`RD_KAFKA_RESP_ERR_<NAME>`).
extension KafkaError.ResponseCode {
    /// The broker's (or, above `message.max.bytes`, librdkafka's own) refusal of a message that is too large.
    public static let messageSizeTooLarge = Self(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
    /// The broker refused the record as invalid (a compacted topic's record without a key, for instance).
    public static let invalidRecord = Self(RD_KAFKA_RESP_ERR_INVALID_RECORD)
    /// The message failed its CRC check, or is otherwise corrupt (Kafka's CORRUPT_MESSAGE; librdkafka's INVALID_MSG).
    public static let invalidMessage = Self(RD_KAFKA_RESP_ERR_INVALID_MSG)
    /// The broker says a newer producer holds this producer's id (PRODUCER_FENCED), or no longer knows its id or
    /// epoch: only a new producer, with a new id, gets messages through again.
    public static let producerFenced = Self(RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
    public static let invalidProducerEpoch = Self(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
    public static let unknownProducerID = Self(RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID)

    init(_ err: rd_kafka_resp_err_t) {
        self.init(rawValue: err.rawValue)
    }
}
