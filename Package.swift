// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Herald",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ServerSentEvents", targets: ["ServerSentEvents"]),
        .library(name: "HeraldHub", targets: ["HeraldHub"]),
        .library(name: "URLPattern", targets: ["URLPattern"]),
        .library(name: "HeraldHTTP", targets: ["HeraldHTTP"]),
        .library(name: "HeraldRedis", targets: ["HeraldRedis"]),
        .library(name: "HeraldClient", targets: ["HeraldClient"]),
        .library(name: "HeraldEventSource", targets: ["HeraldEventSource"]),
        .library(name: "HeraldChat", targets: ["HeraldChat"]),
        .library(name: "HeraldTesting", targets: ["HeraldTesting"]),
        .executable(name: "herald", targets: ["herald"]),
        .executable(name: "herald-bench", targets: ["HeraldBench"]),
        // Needs the `Vapor` trait: without it the module is empty.
        .library(name: "HeraldVapor", targets: ["HeraldVapor"]),
    ],
    // `Fuzzing` (off by default) builds the libFuzzer harness in Fuzz/ for real; see scripts/fuzz.sh.
    // `Vapor` (off by default) builds HeraldVapor, its tests and Examples/VaporChat against Vapor 4;
    // without it those targets are empty stubs and Vapor is neither built nor linked.
    traits: [
        .trait(name: "Fuzzing", description: "Build the libFuzzer targets of Fuzz/ (with -sanitize=fuzzer)."),
        .trait(name: "Vapor", description: "Build HeraldVapor (the hub mounted in a Vapor 4 app), its tests and Examples/VaporChat."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        // HeraldEventSource's transport (TLS, HTTP/2, proxies, redirects, pooling). Not behind a
        // trait: `herald subscribe` needs it, and a package depending on another Herald product
        // never compiles it (SwiftPM builds only the targets of the products it uses).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Already in the graph (Hummingbird, AsyncHTTPClient); named for the TLS test's trust roots.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
        // Already in the graph (Hummingbird, AsyncHTTPClient): HeraldHTTP's own HTTP/2 streams.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        // HeraldVapor's framework; used only by targets that ask for it under the `Vapor` trait.
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        // Already in the graph (Hummingbird); named so that HeraldVapor can convert Vapor's heads.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.3.0"),
        // `swift package generate-documentation` (scripts/docs.sh): a command plugin, never linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
        // The metrics API the library modules report to (an embedder bootstraps the backend);
        // only `herald serve` uses swift-prometheus, to render /metrics.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "ServerSentEvents",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // WHATWG URL Pattern, matched in linear time; no dependencies.
        .target(name: "URLPattern", swiftSettings: strict),
        .target(
            name: "HeraldHub",
            dependencies: [
                "ServerSentEvents",
                "URLPattern",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldRedis",
            dependencies: [
                "HeraldHub",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldHTTP",
            dependencies: [
                "HeraldHub",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            resources: [.copy("Resources/herald.js")],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldClient",
            dependencies: [
                "ServerSentEvents",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldEventSource",
            dependencies: [
                "ServerSentEvents",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldChat",
            dependencies: [
                "HeraldHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: strict
        ),
        // For apps that embed Herald: a hub on a free loopback port (or in-process) for their
        // own tests, subscriptions that collect events with a timeout, publishing, tokens.
        .target(
            name: "HeraldTesting",
            dependencies: [
                "HeraldHTTP",
                "HeraldHub",
                "HeraldEventSource",
                "ServerSentEvents",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldHTTP",
                "HeraldChat",
                "HeraldRedis",
                "HeraldEventSource",
                "URLPattern",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "HeraldBench",
            dependencies: [
                "ServerSentEvents",
                "HeraldClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/HeraldBench",
            swiftSettings: strict
        ),
        // The libFuzzer harness (scripts/fuzz.sh). Without the `Fuzzing` trait it is a stub with
        // no dependencies, so a plain `swift build` / `swift test` compiles one small file for it.
        .target(name: "HeraldFuzzDriver", path: "Fuzz/Driver"),
        .executableTarget(
            name: "HeraldFuzz",
            dependencies: [
                .target(name: "HeraldFuzzDriver", condition: .when(traits: ["Fuzzing"])),
                .target(name: "ServerSentEvents", condition: .when(traits: ["Fuzzing"])),
                .target(name: "HeraldHub", condition: .when(traits: ["Fuzzing"])),
                .target(name: "HeraldHTTP", condition: .when(traits: ["Fuzzing"])),
                .target(name: "HeraldRedis", condition: .when(traits: ["Fuzzing"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Fuzzing"])),
                .product(name: "NIOEmbedded", package: "swift-nio", condition: .when(traits: ["Fuzzing"])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["Fuzzing"])),
            ],
            path: "Fuzz/Sources",
            swiftSettings: strict
        ),
        // The hub in a Vapor app (`app.herald(endpoint)`) and the one-route SSE helper. Every
        // dependency is behind the `Vapor` trait: without it this is an empty module.
        .target(
            name: "HeraldVapor",
            dependencies: [
                .target(name: "HeraldHTTP", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldHub", condition: .when(traits: ["Vapor"])),
                .target(name: "ServerSentEvents", condition: .when(traits: ["Vapor"])),
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio", condition: .when(traits: ["Vapor"])),
            ],
            swiftSettings: strict
        ),
        // The demo chat served by Vapor (`swift run --traits Vapor VaporChat`).
        .executableTarget(
            name: "VaporChat",
            dependencies: [
                .target(name: "HeraldVapor", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldChat", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldHTTP", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldHub", condition: .when(traits: ["Vapor"])),
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras", condition: .when(traits: ["Vapor"])),
            ],
            path: "Examples/VaporChat",
            swiftSettings: strict
        ),
        .testTarget(name: "ServerSentEventsTests", dependencies: ["ServerSentEvents"], swiftSettings: strict),
        .testTarget(name: "URLPatternTests", dependencies: ["URLPattern"], swiftSettings: strict),
        .testTarget(
            name: "HeraldHubTests",
            dependencies: [
                "HeraldHub", "ServerSentEvents",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldRedisTests",
            dependencies: [
                "HeraldTesting",
                "HeraldRedis",
                "HeraldHTTP",
                "HeraldTestSupport",
                "HeraldHub",
                "ServerSentEvents",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldTestSupport",
            dependencies: [
                "HeraldHTTP",
                "HeraldTesting",
                "ServerSentEvents",
                "HeraldClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Tests/HeraldTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldHTTPTests",
            dependencies: [
                "HeraldHTTP",
                "HeraldClient",
                "HeraldTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldEventSourceTests",
            dependencies: [
                "HeraldTesting",
                "HeraldEventSource",
                "HeraldTestSupport",
                "ServerSentEvents",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldTestingTests",
            dependencies: [
                "HeraldTesting",
                "HeraldHTTP",
                "HeraldHub",
                "HeraldEventSource",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldChatTests",
            dependencies: [
                "HeraldChat",
                "HeraldClient",
                "HeraldTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldVaporTests",
            dependencies: [
                .target(name: "HeraldVapor", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldTestSupport", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldHTTP", condition: .when(traits: ["Vapor"])),
                .target(name: "HeraldHub", condition: .when(traits: ["Vapor"])),
                .target(name: "ServerSentEvents", condition: .when(traits: ["Vapor"])),
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio", condition: .when(traits: ["Vapor"])),
            ],
            swiftSettings: strict
        ),
    ]
)
