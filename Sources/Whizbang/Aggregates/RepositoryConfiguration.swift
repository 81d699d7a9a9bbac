/// How a ``Repository`` caches, snapshots and reads.
///
/// Not nested in the generic repository, so that code which configures one names neither the aggregate nor the
/// store type: switching stores does not touch it.
public struct RepositoryConfiguration: Sendable {
    /// The most aggregates kept in memory. 0 disables the cache. Default: 10,000.
    public var cacheCapacity: Int
    /// Save a snapshot whenever a stream's version passes a multiple of this many events, or never if `nil`.
    /// Snapshots are written after the events they follow; a failed snapshot write is logged and ignored, since
    /// the events are already durable. Default: `nil`.
    public var snapshotInterval: Int?
    /// How many events one read fetches when replaying a stream; a value below 1 reads one at a time.
    /// Default: 1,000.
    public var readBatchSize: Int

    /// A configuration with the documented defaults.
    public init() {
        self.cacheCapacity = 10_000
        self.snapshotInterval = nil
        self.readBatchSize = 1_000
    }
}
