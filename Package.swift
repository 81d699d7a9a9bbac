// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "whizbang",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Whizbang", targets: ["Whizbang"]),
        .library(name: "WhizbangStore", targets: ["WhizbangStore"]),
        .library(name: "WhizbangTesting", targets: ["WhizbangTesting"]),
        .library(name: "WhizbangPostgres", targets: ["WhizbangPostgres"]),
        .library(name: "WhizbangCluster", targets: ["WhizbangCluster"]),
        .library(name: "WhizbangConsole", targets: ["WhizbangConsole"]),
        .executable(name: "WhizbangSample", targets: ["WhizbangSample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        // For `swift package generate-documentation`, as users and the Swift Package Index build the DocC catalogs.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", exact: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        // Already in the graph through postgres-nio and hummingbird; named here for NIOCore's ByteBuffer helpers and
        // the HTTP status and header names, and NIOHTTP1 for the console's HTTP/1.0 framing.
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        // Tests only: starts child processes without Foundation's `Process`, whose `run()` on Linux reads
        // `/proc/self/fd` past its buffer and can crash a test process with many files open.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", exact: "1.0.2"),
    ],
    targets: [
        .target(
            name: "Whizbang",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The system libsqlite3. Named for this package: SwiftPM refuses two modules of one name in a build graph, and
        // a plain `CSQLite` is taken by other packages.
        .systemLibrary(
            name: "CWhizbangSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
        .target(
            name: "WhizbangStore",
            dependencies: [
                "Whizbang",
                "CWhizbangSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "WhizbangPostgres",
            dependencies: [
                "Whizbang",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // For ConnectionPoolError, which the pool throws when it gives up connecting.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // N service instances on one PostgreSQL database: partitions, leases and epochs, a shared inbox, fenced
        // batched execution.
        .target(
            name: "WhizbangCluster",
            dependencies: [
                "Whizbang",
                "WhizbangPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The operator's console: HTML pages, a JSON API, /metrics and health checks on Hummingbird. Kept out of the
        // core so that `Whizbang` does not depend on an HTTP server.
        .target(
            name: "WhizbangConsole",
            dependencies: [
                "Whizbang",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "WhizbangStoreCrashChild",
            dependencies: ["WhizbangStore"]
        ),
        .target(
            name: "WhizbangTesting",
            dependencies: ["Whizbang"]
        ),
        // The tests' child processes (the sample, the examples, the crash child, `psql`), and raw SQL on a database
        // file outside the store; not a product.
        .target(
            name: "ProcessTesting",
            dependencies: ["CWhizbangSQLite", .product(name: "Subprocess", package: "swift-subprocess")],
            path: "Tests/ProcessTesting"
        ),
        // The tests' look at a PostgreSQL server's lock table (WhizbangPostgresTests, WhizbangClusterTests); not a
        // product.
        .target(
            name: "PostgresTesting",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/PostgresTesting"
        ),
        .executableTarget(
            name: "WhizbangSample",
            dependencies: [
                "Whizbang",
                "WhizbangStore",
                "WhizbangPostgres",
                "WhizbangCluster",
                "WhizbangConsole",
                "CWhizbangSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // Examples/: small programs that `swift build` compiles and ExamplesTests runs to completion.
        .executableTarget(
            name: "ShoppingCartExample",
            dependencies: ["Whizbang", "WhizbangStore"],
            path: "Examples/ShoppingCart",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "InventoryExample",
            dependencies: ["Whizbang", "WhizbangStore"],
            path: "Examples/Inventory",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "LibraryExample",
            dependencies: ["Whizbang", "WhizbangStore", "WhizbangPostgres"],
            path: "Examples/Library",
            exclude: ["README.md"]
        ),
        .testTarget(
            name: "WhizbangTests",
            dependencies: [
                "Whizbang", "WhizbangTesting",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        // Runs the built WhizbangSample executable as a process; `swift test` builds it with the other products.
        .testTarget(
            name: "WhizbangSampleTests",
            dependencies: ["ProcessTesting"]
        ),
        // Runs the built examples as processes, and the getting-started article's code against the ShoppingCartExample.
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                "ShoppingCartExample",
                "InventoryExample",
                "LibraryExample",
                "Whizbang",
                "WhizbangStore",
                "WhizbangPostgres",
                "WhizbangTesting",
                "ProcessTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            exclude: ["Fixtures"]
        ),
        // Needs a PostgreSQL server named by WHIZBANG_POSTGRES_URL (scripts/postgres-server.sh starts one); without
        // it the tests are skipped, except under CI=true, where they fail.
        .testTarget(
            name: "WhizbangPostgresTests",
            dependencies: [
                "WhizbangPostgres",
                "WhizbangTesting",
                "PostgresTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // For the proxy that ends a connection in the middle of a result.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Needs WHIZBANG_POSTGRES_URL as WhizbangPostgresTests does.
        .testTarget(
            name: "WhizbangClusterTests",
            dependencies: [
                "Whizbang",
                "WhizbangCluster",
                "WhizbangPostgres",
                "PostgresTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "WhizbangConsoleTests",
            dependencies: [
                "Whizbang",
                "WhizbangConsole",
                "WhizbangTesting",
                "ProcessTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "WhizbangStoreTests",
            dependencies: [
                "Whizbang",
                "WhizbangStore",
                "WhizbangTesting",
                "WhizbangStoreCrashChild",
                "ProcessTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Databases written by older versions of the store, which the tests open (copies of) by path.
            exclude: ["Fixtures"]
        ),
    ]
)

// The same language settings for every target: Swift 6 mode with complete concurrency checking is the default for
// tools 6.x; these upcoming features keep dependencies explicit and existentials spelled out.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
