// The JSON bodies of the console's API. Small value types with no behaviour, kept together so that the API's shape
// reads in one place; the DocC article JSONAPI describes each endpoint.

/// `GET /api/overview`.
struct OverviewView: Codable, Sendable {
    var headPosition: UInt64
    var indexedPosition: UInt64
    var streamCount: Int
    var eventsPerSecond: Double
    var throughput: [ThroughputSample]
    var projections: [ProjectionView]
    /// The store's size in bytes, when the console is configured to measure it.
    var storeBytes: Int?
    /// Whether the console can show a cluster's nodes and partition owners (`/cluster`).
    var showsCluster: Bool
}

/// `GET /api/head`.
struct HeadView: Codable, Sendable {
    var headPosition: UInt64
}

/// `GET /api/streams`.
struct StreamsPage: Codable, Sendable {
    var prefix: String
    var streams: [StreamSummary]
    /// The `after` value for the next page, or `nil` (null) on the last page.
    @NullWhenAbsent var next: String?
}

/// `GET /api/stream?id=`.
struct StreamPage: Codable, Sendable {
    var streamID: String
    var version: UInt64
    var events: [EventView]
    /// The `from` version of the next page, or `nil` (null) on the last page.
    @NullWhenAbsent var next: UInt64?
}

/// `GET /api/log`.
struct LogPage: Codable, Sendable {
    var headPosition: UInt64
    var events: [EventView]
    /// The `after` position of the next page, or `nil` (null) when this page reached the head.
    @NullWhenAbsent var next: UInt64?
}

/// One projection or process manager: `GET /api/projections`.
struct ProjectionView: Codable, Sendable {
    var name: String
    /// The saved checkpoint, or `nil` (null) when the consumer never saved one.
    @NullWhenAbsent var checkpoint: UInt64?
    var lagEvents: UInt64
    /// Seconds since the oldest event the projection has not handled was recorded; 0 when caught up.
    var lagSeconds: Double
    /// `caught-up`, `behind`, or `not-started`.
    var state: String
    /// What the runner said it is doing — `running`, `rebuilding`, `stopped` or `failed` — when its status board is
    /// configured and it has run in this process; `nil` otherwise.
    var runner: String?
    /// The error that stopped the runner, when `runner` is `failed`.
    var error: String?
}

/// `GET /health/live` and `GET /health/ready`.
struct HealthView: Codable, Sendable {
    var status: String
    var checks: [String]
}

/// The body of every error response of the API.
struct ErrorView: Codable, Sendable {
    var error: String
}
