public import Whizbang

/// What a ``StoreConsole`` serves and how.
///
/// The defaults are safe: the console listens on 127.0.0.1 only, and on any other address it refuses to start
/// unless ``accessToken`` is set.
public struct ConsoleConfiguration: Sendable {
    /// The address to listen on. Default `127.0.0.1`. Any address other than loopback (`127.x.y.z`, `::1`,
    /// `localhost`; see ``isLoopback``) needs an ``accessToken``.
    public var host: String
    /// The port to listen on. Default 8080; 0 lets the system choose one.
    public var port: Int
    /// The token every request must carry, as `Authorization: Bearer TOKEN` or in the cookie that `/login` sets: at
    /// least 16 characters of letters, digits, `-`, `.`, `_` and `~`. Default `nil`: no token, allowed on loopback
    /// only.
    public var accessToken: String?
    /// Page size when a request names none. Default 50.
    public var defaultPageSize: Int
    /// The largest page a request may ask for; larger requests get 400. Default 500.
    public var maximumPageSize: Int
    /// The most bytes of payload and metadata a page of events holds: a page ends early, with a `next` to continue
    /// from, once its events hold this many (it holds at least one event), and the store is read in slices of at
    /// most 64 events, so that one request never loads the largest page of the largest events. Default 4 MiB.
    public var maximumPageBytes: Int
    /// The checkpoint names (consumers) of the projections and process managers to show. Default none. Each must be
    /// a name a store accepts as a checkpoint's consumer: not empty, and without a NUL character.
    public var projections: [String]
    /// The lag, in events, above which a projection makes `/health/ready` report unready. Default 10,000.
    public var maximumReadyLag: UInt64
    /// How long a request waits for the store before it answers 503. Default 5 seconds.
    public var storeTimeout: Duration
    /// How often the catalog reads new events and the live updates are sent. Default 1 second.
    public var refreshInterval: Duration
    /// How long one live-update stream lasts before the server ends it (the browser reconnects). Default 5 minutes.
    /// Streams also end as soon as the console's graceful shutdown begins.
    ///
    /// It also bounds the writes of a stream and of a JSON answer (a page of `/api/log` with its events' payloads can
    /// be far larger than a connection holds): a write still waiting for a client that stopped reading when this
    /// time has passed since the request, or when graceful shutdown begins, ends with its connection, which the
    /// console closes. That needs the connection, which the console's own router keeps
    /// (``ConsoleRequestContext``); mounted on a router with another context, such a write waits until the client
    /// reads or the server's task is cancelled.
    public var maximumLiveDuration: Duration
    /// The most live-update streams (`/api/live`) served at once. A stream past it ends at once, telling the browser
    /// to try again in a minute: each stream reads the store every ``refreshInterval``, so without a limit one client
    /// opening many would take the store's time from every other request. Default 16.
    public var maximumLiveStreams: Int
    /// How long a connection may stay open with no request in progress — before its first request, between
    /// requests, or while a request's head arrives too slowly — before the server closes it. Default 30 seconds.
    /// Without such a limit, clients that open connections and send nothing would hold the server's file
    /// descriptors until none is left for anyone else.
    public var idleTimeout: Duration
    /// How long `POST /login` may take to deliver its form (at most 4 KiB) once its handler starts reading it, before
    /// the console answers 408 and stops waiting for it. Default 5 seconds. Without such a limit, a client that sends
    /// the body a byte at a time would hold its request, and with it graceful shutdown, for as long as it went on.
    public var loginBodyTimeout: Duration
    /// How the stream catalog reads the log.
    public var catalog: StreamCatalog.Configuration
    /// Where the runners of this process publish their status: with it, the projections show running, stopped or
    /// failed with the error, and a failed one makes `/health/ready` unready. Default `nil`: the state shown comes
    /// from checkpoints and lag alone (as for runners in another process).
    public var projectionStatus: ProjectionStatusBoard?
    /// Measures the store's size in bytes for the overview (a file's size, `pg_total_relation_size`, …); it runs
    /// under ``storeTimeout``. Default `nil`: the overview shows no size.
    public var storeSize: (@Sendable () async throws -> Int)?
    /// Further reasons for `/health/ready` to answer unready, beside the store's and the projections': each string
    /// one problem (such as a store file deleted or replaced since it was opened); empty when there is none. It must
    /// return at once (it is not bounded by ``storeTimeout``). Default `nil`: no further check.
    public var readinessProblems: (@Sendable () -> [String])?
    /// Reads the cluster running on the store, or returns `nil` when there is none; it runs under ``storeTimeout``.
    /// With it, the console has a page of nodes and partition owners (`/cluster`). Default `nil`: no such page.
    public var clusterStatus: (@Sendable () async throws -> ClusterStatus?)?

    /// The defaults.
    public init() {
        host = "127.0.0.1"
        port = 8080
        accessToken = nil
        defaultPageSize = 50
        maximumPageSize = 500
        maximumPageBytes = 4 << 20
        projections = []
        maximumReadyLag = 10_000
        storeTimeout = .seconds(5)
        refreshInterval = .seconds(1)
        maximumLiveDuration = .seconds(300)
        maximumLiveStreams = 16
        idleTimeout = .seconds(30)
        loginBodyTimeout = .seconds(5)
        catalog = StreamCatalog.Configuration()
        projectionStatus = nil
        storeSize = nil
        readinessProblems = nil
        clusterStatus = nil
    }

    /// Whether ``host`` is a loopback address, reachable from this machine only: `localhost`, `::1` (or `[::1]`), or
    /// an IPv4 address `127.x.y.z` written as four decimal numbers from 0 to 255 without leading zeros. Any other
    /// name, such as `127.example.com`, may resolve to an address elsewhere.
    public var isLoopback: Bool {
        let host = host.lowercased()
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy { octet in UInt8(octet).map { String($0) == octet } ?? false }
    }

    /// Throws unless the configuration is safe and consistent: a token on any address other than loopback, positive
    /// page sizes, a non-empty token, a port in range, positive durations (``storeTimeout``, ``refreshInterval``,
    /// ``maximumLiveDuration``, ``idleTimeout``, ``loginBodyTimeout``), counts (``maximumLiveStreams``, the
    /// catalog's `batchSize`, `maximumBatchBytes`, `maximumEventsPerRefresh`, `maximumSamples`), and projection
    /// names that a store accepts as a checkpoint's consumer (`EventStoreValidation.validateConsumer(_:)`: not empty,
    /// no NUL character). A name no store accepts would otherwise make every page that shows the projections answer
    /// 503 for as long as the console runs.
    public func validate() throws(ConsoleError) {
        if let accessToken {
            let allowed = accessToken.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || Array("-._~".utf8).contains(byte)
            }
            guard accessToken.utf8.count >= 16, allowed else {
                throw ConsoleError(
                    .invalidConfiguration,
                    message: "the access token must be at least 16 characters of letters, digits, '-', '.', '_' or '~'")
            }
        }
        if !isLoopback, accessToken == nil {
            throw ConsoleError(
                .insecureAddress,
                message: "refusing to listen on \(host) without an access token: anyone who reaches that address "
                    + "could read the store; set an access token, or listen on 127.0.0.1")
        }
        guard defaultPageSize > 0, maximumPageSize >= defaultPageSize else {
            throw ConsoleError(
                .invalidConfiguration,
                message: "page sizes must be positive, with the maximum (\(maximumPageSize)) at least the default "
                    + "(\(defaultPageSize))")
        }
        guard (0...65_535).contains(port) else {
            throw ConsoleError(.invalidConfiguration, message: "port \(port) is not between 0 and 65535")
        }
        // Zero or less would make the refresh loop spin, every store call fail at once, live streams end as they
        // begin, or the catalog trap when it trims its samples.
        let durations = [
            ("storeTimeout", storeTimeout), ("refreshInterval", refreshInterval),
            ("maximumLiveDuration", maximumLiveDuration), ("idleTimeout", idleTimeout),
            ("loginBodyTimeout", loginBodyTimeout),
        ]
        for (name, duration) in durations where duration <= .zero {
            throw ConsoleError(.invalidConfiguration, message: "\(name) must be positive, not \(duration)")
        }
        let counts = [
            ("catalog.batchSize", catalog.batchSize), ("catalog.maximumBatchBytes", catalog.maximumBatchBytes),
            ("catalog.maximumEventsPerRefresh", catalog.maximumEventsPerRefresh),
            ("catalog.maximumSamples", catalog.maximumSamples), ("maximumPageBytes", maximumPageBytes),
            ("maximumLiveStreams", maximumLiveStreams),
        ]
        for (name, count) in counts where count <= 0 {
            throw ConsoleError(.invalidConfiguration, message: "\(name) must be at least 1, not \(count)")
        }
        for name in projections {
            do throws(EventStoreError) {
                try EventStoreValidation.validateConsumer(name)
            } catch {
                throw ConsoleError(
                    .invalidConfiguration,
                    message: "projection name \(name.debugDescription) is not a checkpoint name: \(error.message)")
            }
        }
    }
}
