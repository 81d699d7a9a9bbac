// swift-tools-version: 6.1
import PackageDescription

// Tracing for Whizbang through swift-distributed-tracing, kept out of the root package so that the core builds with
// nothing but what it needs (and so that this dependency's build notices stay out of the core's build).
let package = Package(
    name: "whizbang-tracing",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "WhizbangTracing", targets: ["WhizbangTracing"])
    ],
    dependencies: [
        .package(name: "whizbang", path: "../.."),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", exact: "1.7.3"),
    ],
    targets: [
        .target(
            name: "WhizbangTracing",
            dependencies: [
                .product(name: "Whizbang", package: "whizbang"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .testTarget(
            name: "WhizbangTracingTests",
            dependencies: [
                "WhizbangTracing",
                .product(name: "Whizbang", package: "whizbang"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ]
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
