public import Logging
import WhizbangPostgres

/// How a cluster partitions its streams and times its leases; shared by ``ClusterNode`` and ``ClusterClient``.
///
/// The defaults suit a production cluster: 256 partitions, a heartbeat every 2 seconds, leases of 10 seconds. Tests
/// shorten the timings; keep ``leaseDuration`` several heartbeats long so that one slow heartbeat does not lose a
/// lease.
public struct ClusterConfiguration: Sendable {
    /// The number of partitions, fixed for the life of a cluster: the first node records it in the database, and
    /// a node configured with another count refuses to start. About ten times the largest node count spreads
    /// work evenly. From 1 to 65,536. Default 256.
    public var partitionCount: Int = 256
    /// How often a node heartbeats, renews its leases and claims unowned or expired partitions, in one
    /// transaction. Default 2 seconds.
    public var heartbeatInterval: Duration = .seconds(2)
    /// How long a lease lasts after its last renewal, on the database's clock; a node that stops heartbeating
    /// loses its partitions this long after its last heartbeat. Must be longer than ``heartbeatInterval``.
    /// Default 10 seconds.
    public var leaseDuration: Duration = .seconds(10)
    /// The most inbox commands a node runs in one transaction. Default 512.
    public var maximumBatchSize: Int = 512
    /// About the most bytes one batch sends to the database: each event's data, metadata and type, 64 bytes for its
    /// other fields, and each command's result. A batch takes the streams that fit, in inbox order, and leaves the
    /// rest for the next; a stream whose commands fit only one by one runs one per batch, and a command whose own
    /// events and result do not fit fails (`commandFailed`). From 1 to half of
    /// `PostgresEventStore.maximumAppendBytes` (a batch is one message to the server, which takes less than 1 GiB).
    /// Default 64 MiB.
    public var maximumBatchBytes: Int = 64 << 20
    /// How often a node looks at the inbox, and a client at its awaited results, when no notification woke it.
    /// Default 1 second.
    public var pollInterval: Duration = .seconds(1)
    /// How long ``ClusterClient/send(_:to:as:messageID:timeout:)`` waits for a result by default. Default 30 seconds.
    public var resultTimeout: Duration = .seconds(30)
    /// How long a command's inbox row is kept after its result is recorded; `nil` keeps every row.
    ///
    /// Within this time, sending the same message id again returns the first result and runs nothing. Once the row is
    /// deleted, the message id is a new command, decided again on the aggregate's state then, so its result may
    /// differ from the first; events it would append a second time are refused by the store (a node derives event
    /// ids from the message id, and the store keeps each event id once), and the command then fails. A caller still
    /// waiting for a deleted row's result gets ``ClusterError/Code/resultExpired``. So choose it longer than any
    /// sender may resend; it must be longer than ``resultTimeout`` plus ``leaseDuration``. Every node deletes
    /// expired rows once per ``heartbeatInterval``, oldest first, up to 20,000 rows a time; pending commands at the
    /// head of the inbox hold the deletion back until they run. Default `nil`: the inbox keeps every command, and
    /// grows with them.
    public var inboxRetention: Duration? = nil
    /// The most aggregate states a node keeps in memory; past it the cache starts over. Default 100,000.
    public var maximumCachedStates: Int = 100_000
    /// Where the cluster logs claims, releases, handovers and fence rejections. Default: a logger labelled
    /// `"whizbang.cluster"`.
    public var logger: Logger = Logger(label: "whizbang.cluster")

    /// Creates a configuration with the default values.
    public init() {}

    func validate() throws(ClusterError) {
        func invalid(_ message: String) -> ClusterError {
            ClusterError(.invalidConfiguration, message: "invalid cluster configuration: \(message)")
        }
        guard (1...65_536).contains(partitionCount) else { throw invalid("partitionCount must be from 1 to 65536") }
        guard heartbeatInterval > .zero else { throw invalid("heartbeatInterval must be positive") }
        guard leaseDuration > heartbeatInterval else {
            throw invalid("leaseDuration must be longer than heartbeatInterval")
        }
        guard maximumBatchSize >= 1 else { throw invalid("maximumBatchSize must be at least 1") }
        guard (1...PostgresEventStore.maximumAppendBytes / 2).contains(maximumBatchBytes) else {
            throw invalid("maximumBatchBytes must be from 1 to \(PostgresEventStore.maximumAppendBytes / 2)")
        }
        guard pollInterval > .zero else { throw invalid("pollInterval must be positive") }
        guard resultTimeout > .zero else { throw invalid("resultTimeout must be positive") }
        guard maximumCachedStates >= 1 else { throw invalid("maximumCachedStates must be at least 1") }
        if let inboxRetention, inboxRetention <= resultTimeout + leaseDuration {
            throw invalid("inboxRetention must be longer than resultTimeout plus leaseDuration")
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up, for SQL intervals; at most 10¹⁵ (some 31,000 years, within
    /// PostgreSQL's range for an interval), so that a duration meant as "never" neither traps nor fails there.
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let limit: Int64 = 1_000_000_000_000_000
        guard seconds < limit / 1000 else { return limit }
        return seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    }
}
