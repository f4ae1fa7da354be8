// swift-tools-version:6.2
import PackageDescription

/// What a saga participant's domain module builds on.
let domain: [Target.Dependency] = [
    "OrderSaga", "SagaKit", "PGClient",
    .product(name: "Logging", package: "swift-log"),
    .product(name: "Metrics", package: "swift-metrics"),
    .product(name: "CoreMetrics", package: "swift-metrics"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
]
/// What a participant's executable adds.
let executable: [Target.Dependency] = [
    "SagaKitService", "SagaKit", "OrderSaga", "PGClient",
    .product(name: "ArgumentParser", package: "swift-argument-parser"),
    .product(name: "Logging", package: "swift-log"),
]

let package = Package(
    name: "SagaKit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SagaKit", targets: ["SagaKit"]),
        .library(name: "KafkaClient", targets: ["KafkaClient"]),
        .library(name: "PGClient", targets: ["PGClient"]),
        // What a participant's executable builds on (docs/GUIDE.md), and the order saga's contracts, for participants
        // that join it from another package.
        .library(name: "SagaKitService", targets: ["SagaKitService"]),
        .library(name: "OrderSaga", targets: ["OrderSaga"]),
        .executable(name: "inventory-service", targets: ["InventoryService"]),
        .executable(name: "payment-service", targets: ["PaymentService"]),
        .executable(name: "notification-service", targets: ["NotificationService"]),
        .executable(name: "saga-tracker", targets: ["SagaTracker"]),
        .executable(name: "loyalty-service", targets: ["LoyaltyService"]),
        .executable(name: "saga-bench", targets: ["SagaBench"]),
        .executable(name: "saga-check", targets: ["SagaCheck"]),
        .executable(name: "sagakit-testbed", targets: ["SagaKitTestbed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // Observability: the standard API packages in the libraries, the backends and the HTTP server in the
        // command line layer only. Traits keep out what we don't use (gRPC export, swift-configuration support).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        // Already built for swift-otel's OTLP/HTTP exporter; the console forwards actions to the services with it.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // C libraries, reached only through the two wrapper modules below.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // A serial executor on a thread of its own, for actors that make blocking C calls.
        .target(name: "DedicatedExecutor"),

        .target(
            name: "KafkaClient",
            dependencies: [
                "CRdKafka", "DedicatedExecutor",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PGClient",
            dependencies: [
                "CLibPQ", "DedicatedExecutor",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The saga machinery: envelope, outbox, relay, inbox, consumer runner, retries, dead letters, crash points.
        .target(
            name: "SagaKit",
            dependencies: [
                "KafkaClient", "PGClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Migrations")]
        ),
        // What every service binary shares: options, environment, logging, and the run/migrate/outbox commands.
        .target(
            name: "SagaKitService",
            dependencies: [
                "SagaKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),

        // The order saga: its contracts, then each participant as a domain module and a thin executable.
        .target(name: "OrderSaga", dependencies: ["SagaKit"]),
        .target(name: "Inventory", dependencies: domain, resources: [.copy("Migrations")]),
        .executableTarget(name: "InventoryService", dependencies: ["Inventory"] + executable),
        .target(name: "Payment", dependencies: domain, resources: [.copy("Migrations")]),
        .executableTarget(name: "PaymentService", dependencies: ["Payment"] + executable),
        .target(name: "Notification", dependencies: domain, resources: [.copy("Migrations")]),
        .executableTarget(name: "NotificationService", dependencies: ["Notification"] + executable),
        .target(
            name: "Tracker", dependencies: domain + [.product(name: "Tracing", package: "swift-distributed-tracing")],
            resources: [.copy("Migrations")]
        ),
        // The operator console: server-rendered pages over the tracker's projection, on the tracker's HTTP server.
        .target(
            name: "Console",
            dependencies: [
                "Tracker", "SagaKit", "SagaKitService", "PGClient",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "SagaTracker",
            dependencies: ["Tracker", "Console"] + executable + [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        // The guide's example (docs/GUIDE.md): a participant that joins the order saga from outside, written against
        // SagaKit's public API only, as a package of its own would write it. Loyalty points, revoked on a refund.
        .target(name: "Loyalty", dependencies: domain, resources: [.copy("Migrations")]),
        .executableTarget(name: "LoyaltyService", dependencies: ["Loyalty"] + executable),

        // The invariant checker: the order saga's invariants over every service's database and the topics.
        .target(
            name: "Checker",
            dependencies: ["OrderSaga", "SagaKit", "PGClient", "KafkaClient", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "SagaCheck",
            dependencies: [
                "Checker", "SagaKitService", "PGClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The benchmark: drives sagas through the tracker's intake and measures the whole stack.
        .executableTarget(
            name: "SagaBench",
            dependencies: ["Tracker", "Inventory", "KafkaClient"] + executable + [.product(name: "Histogram", package: "hdrhistogram-swift")]
        ),

        // A minimal service over SagaKit that the integration tests start, crash and restart as a real process.
        .target(
            name: "Testbed",
            dependencies: ["SagaKit", "PGClient", .product(name: "Logging", package: "swift-log")],
            resources: [.copy("Migrations")]
        ),
        .executableTarget(
            name: "SagaKitTestbed",
            dependencies: ["Testbed", "SagaKit", "SagaKitService", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Tests mirror the layers (docs/ARCHITECTURE.md, "Tests"): each library's <Lib>UnitTests need nothing running
        // (`infra/dev unit`), its <Lib>IntegrationTests the real PostgreSQL, broker and processes, with TestSupport.
        .target(
            name: "TestSupport",
            dependencies: ["SagaKit", "KafkaClient", "PGClient", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "KafkaClientUnitTests",
            dependencies: ["KafkaClient", "TestSupport", .product(name: "Logging", package: "swift-log"), .product(name: "InMemoryLogging", package: "swift-log")]
        ),
        .testTarget(
            name: "KafkaClientIntegrationTests",
            dependencies: ["KafkaClient", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "PGClientUnitTests", dependencies: ["PGClient", "TestSupport"]),
        .testTarget(
            name: "PGClientIntegrationTests",
            dependencies: ["PGClient", "TestSupport", .product(name: "Logging", package: "swift-log"), .product(name: "InMemoryLogging", package: "swift-log")]
        ),
        .testTarget(
            name: "SagaKitUnitTests",
            dependencies: [
                "SagaKit", "KafkaClient", "PGClient", "Testbed",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(name: "SagaKitIntegrationTests", dependencies: ["SagaKit", "KafkaClient", "PGClient", "Testbed", "TestSupport"]),

        // The order saga's tests: OrderSagaUnitTests (contracts, the participants' pure logic, documents against the
        // code), OrderSagaIntegrationTests (the real services against PostgreSQL and the broker) and
        // OrderSagaDisruptiveTests (suites that restart those servers: `infra/dev test` runs them last, alone).
        // OrderSagaFixtures holds sample events for both kinds; OrderSagaTestSupport, the four services as a cluster.
        .target(name: "OrderSagaFixtures", dependencies: ["OrderSaga", "SagaKit", "Tracker"], path: "Tests/OrderSagaFixtures"),
        .target(
            name: "OrderSagaTestSupport",
            dependencies: [
                "OrderSaga", "Inventory", "Payment", "Notification", "Tracker", "Checker", "SagaKit", "PGClient", "KafkaClient", "TestSupport",
            ],
            path: "Tests/OrderSagaTestSupport"
        ),
        .testTarget(
            name: "OrderSagaUnitTests",
            dependencies: [
                "OrderSaga", "OrderSagaFixtures", "Inventory", "Payment", "Notification", "Tracker", "Checker", "SagaKit", "SagaKitService",
                "TestSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "OrderSagaIntegrationTests",
            dependencies: [
                "OrderSaga", "OrderSagaFixtures", "OrderSagaTestSupport", "Inventory", "Payment", "Notification", "Tracker", "Checker", "SagaKit",
                "SagaKitService", "PGClient", "KafkaClient", "TestSupport",
                // The test OTLP/HTTP receiver (TraceExportTests).
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "OrderSagaDisruptiveTests",
            dependencies: ["OrderSaga", "OrderSagaTestSupport", "Tracker", "SagaKit", "TestSupport"]
        ),
        .testTarget(
            name: "ConsoleUnitTests",
            dependencies: ["Console", "Tracker", "SagaKitService", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "LoyaltyUnitTests", dependencies: ["Loyalty", "OrderSaga", "SagaKit", "TestSupport"]),
        .testTarget(name: "LoyaltyIntegrationTests", dependencies: ["Loyalty", "OrderSaga", "SagaKit", "PGClient", "TestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .treatAllWarnings(as: .error),
    ]
}
