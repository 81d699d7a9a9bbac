// swift-tools-version: 6.1

import PackageDescription

// The benchmarks are a package of their own so that the root package does not depend on ordo-one/benchmark.
// Modelled on apple/swift-nio's `Benchmarks/`: malloc-count thresholds are committed under `Thresholds/`.
let package = Package(
    name: "benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "whizbang", path: ".."),
        // Only the malloc interposer: the default "RuntimeInterposer" trait would pull in
        // ordo-one/swift-runtime-interposer on Linux with Swift 6.3.
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ExecutorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Whizbang", package: "whizbang"),
            ],
            path: "Benchmarks/ExecutorBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                "CSQLiteBaseline",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Whizbang", package: "whizbang"),
                .product(name: "WhizbangStore", package: "whizbang"),
            ],
            path: "Benchmarks/StoreBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "RuntimeBenchmarks",
            dependencies: [
                "RuntimeFixtures",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Whizbang", package: "whizbang"),
            ],
            path: "Benchmarks/RuntimeBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        // Commands/s at 1 and 256 in flight outside the harness, which gives an async benchmark one core (see its
        // source); no malloc interposer.
        .executableTarget(
            name: "RuntimeThroughput",
            dependencies: ["RuntimeFixtures", .product(name: "Whizbang", package: "whizbang")],
            path: "Benchmarks/RuntimeThroughput"
        ),
        // The aggregate and fixture RuntimeBenchmarks and RuntimeThroughput share.
        .target(
            name: "RuntimeFixtures",
            dependencies: [.product(name: "Whizbang", package: "whizbang")],
            path: "Benchmarks/RuntimeFixtures"
        ),
        // The system SQLite for the raw C-API baselines of StoreBenchmarks (the root package's CWhizbangSQLite is not a product).
        .systemLibrary(
            name: "CSQLiteBaseline",
            path: "Sources/CSQLiteBaseline",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]
        ),
    ]
)
