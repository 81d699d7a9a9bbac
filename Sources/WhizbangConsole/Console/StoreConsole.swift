#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Hummingbird
import NIOCore
public import Logging
public import Prometheus
public import ServiceLifecycle
import Synchronization
public import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only web console for one event store: HTML pages, a JSON API, live updates, `/metrics` and health checks.
///
/// Run it as a `Service` (``run()`` listens on the configured address and refreshes the catalog), or mount its
/// routes on a router of your own with ``addRoutes(to:)`` and run ``refreshLoop()`` beside it.
///
/// It never changes the store: every route reads, and the only route that accepts a POST (`/login`) sets a cookie.
/// Every store call waits at most ``ConsoleConfiguration/storeTimeout``, then the request answers 503.
///
/// To see the metrics the framework emits on `/metrics`, bootstrap swift-metrics with a `PrometheusMetricsFactory`
/// on the same registry: `MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))`.
public final class StoreConsole<Store: EventStore>: Service {
    /// What the console serves and how.
    public let configuration: ConsoleConfiguration
    /// The streams the console knows, refreshed by ``refresh()``.
    public let catalog: StreamCatalog
    /// The registry `/metrics` emits.
    public let registry: PrometheusCollectorRegistry

    let reader: ConsoleReader<Store>
    let metrics: ConsoleMetrics
    /// The live-update streams served now.
    let liveStreams = LiveStreamCount()
    private let logger: Logger

    /// Creates a console for `store`.
    ///
    /// - Parameters:
    ///   - store: the store to show; the console only reads it.
    ///   - configuration: the address, token, page sizes and projections.
    ///   - registry: the Prometheus registry `/metrics` emits, with the console's own gauges added to it.
    ///   - logger: where the console logs, at debug level and above.
    ///   - now: the current time, for lag in seconds and throughput samples.
    /// - Throws: ``ConsoleError`` — `insecureAddress` for an address other than loopback without an access token,
    ///   `invalidConfiguration` for values out of range.
    public init(
        store: Store,
        configuration: ConsoleConfiguration = ConsoleConfiguration(),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        logger: Logger = Logger(label: "whizbang.console"),
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws(ConsoleError) {
        try configuration.validate()
        self.configuration = configuration
        self.catalog = StreamCatalog(configuration: configuration.catalog)
        self.registry = registry
        self.metrics = ConsoleMetrics(registry: registry)
        self.logger = logger
        self.reader = ConsoleReader(store: store, catalog: catalog, configuration: configuration, now: now)
    }

    /// Reads what the store appended since the last refresh into the catalog, and updates the console's gauges.
    ///
    /// A store that fails or does not answer in time is logged at debug level and sets the gauge
    /// `whizbang_console_store_up` to 0 (the other gauges keep their last values); the next refresh tries again.
    public func refresh() async {
        let catalog = catalog
        let now = reader.now
        do {
            _ = try await reader.bounded("refresh the catalog") { [store = reader.store] in
                try await catalog.refresh(from: store, at: now())
            }
            metrics.record(overview: try await reader.overview())
            metrics.record(storeAnswered: true, at: now())
        } catch {
            metrics.record(storeAnswered: false)
            logger.debug("console refresh failed", metadata: ["reason": "\(error)"])
        }
    }

    /// Refreshes every ``ConsoleConfiguration/refreshInterval`` until the task is cancelled or graceful shutdown
    /// begins.
    public func refreshLoop() async {
        let interval = configuration.refreshInterval
        try? await cancelWhenGracefulShutdown {
            while true {
                await self.refresh()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// A router with the console's routes and middleware, for tests and for serving it on its own; its context keeps
    /// each request's connection, so that a response to a client that stops reading can be ended (see
    /// ``ConsoleRequestContext``).
    public func makeRouter() -> Router<ConsoleRequestContext> {
        let router = Router(context: ConsoleRequestContext.self)
        addRoutes(to: router)
        return router
    }

    /// Listens on the configured address and refreshes the catalog, until graceful shutdown or cancellation.
    public func run() async throws {
        try await run(onListening: { _ in })
    }

    /// Like ``run()``, and calls `onListening` with the port once the server listens (useful with port 0).
    ///
    /// - Throws: ``ConsoleError`` with code ``ConsoleError/Code/cannotListen`` when the address cannot be listened on
    ///   (the port is in use, the address is not this machine's), naming the address, port and cause.
    public func run(onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let listening = ListeningFlag()
        let application = Application(
            router: makeRouter(),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [HTTP10Framing.Installer()],
                    idleTimeout: TimeAmount(configuration.idleTimeout))),
            configuration: ApplicationConfiguration(
                address: .hostname(Self.bindable(configuration.host), port: configuration.port), serverName: nil),
            services: [RefreshService(refresh: { await self.refreshLoop() })],
            onServerRunning: { channel in
                listening.isListening.store(true, ordering: .sequentiallyConsistent)
                await onListening(channel.localAddress?.port ?? 0)
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch where !listening.isListening.load(ordering: .sequentiallyConsistent) {
            // The socket's own words name neither the address nor the port.
            let host = Self.bindable(configuration.host)
            let address = host.contains(":") ? "[\(host)]" : host
            let cause = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw ConsoleError(.cannotListen, message: "cannot listen on \(address):\(configuration.port): \(cause)")
        }
    }

    /// `host` as the socket takes it: an IPv6 address without the brackets a URL puts around it (`[::1]`).
    static func bindable(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}

/// Whether the console's server has started listening, set from its `onServerRunning` callback.
private final class ListeningFlag: Sendable {
    let isListening = Atomic(false)
}

/// Runs the console's refresh loop as one of the application's services.
private struct RefreshService: Service {
    let refresh: @Sendable () async -> Void

    func run() async throws {
        await refresh()
    }
}
