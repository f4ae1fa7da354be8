/// An error from the Kafka layer: librdkafka's code and message, plus whether retrying can help.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case configuration, librdkafka, timeout, shutdown, admin
        }
        fileprivate let base: Base

        /// A configuration property was rejected at start-up.
        public static let configuration = Code(base: .configuration)
        /// librdkafka reported an error; see `rdKafkaCode`.
        public static let librdkafka = Code(base: .librdkafka)
        /// An operation did not finish within its deadline.
        public static let timeout = Code(base: .timeout)
        /// The client was used after it was closed.
        public static let shutdown = Code(base: .shutdown)
        /// An admin operation failed for one of its items.
        public static let admin = Code(base: .admin)

        public var description: String { String(describing: base) }
    }

    public let code: Code
    /// librdkafka's numeric error code (a response error, negative for its local ones), when there is one.
    public let rdKafkaCode: Int32?
    public let message: String
    /// Fatal errors leave the client unusable (an idempotent producer's fencing, for instance).
    public let isFatal: Bool
    /// Whether librdkafka marks the error as retriable (timeouts, broker transport failures).
    public let isRetriable: Bool

    public init(code: Code, message: String, rdKafkaCode: Int32? = nil, isFatal: Bool = false, isRetriable: Bool = false) {
        self.code = code
        self.message = message
        self.rdKafkaCode = rdKafkaCode
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    /// One of librdkafka's error codes (its response error enum's values), for checking `rdKafkaCode` by name. The
    /// constants are in `RDKafka/KafkaError+RDKafka.swift`, taken from librdkafka's own enum.
    public struct ResponseCode: RawRepresentable, Hashable, Sendable {
        public let rawValue: Int32

        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }
    }

    /// `rdKafkaCode` as a `ResponseCode`.
    public var responseCode: ResponseCode? { rdKafkaCode.map(ResponseCode.init(rawValue:)) }

    public var description: String { "Kafka error (\(code)): \(message)" }
}
