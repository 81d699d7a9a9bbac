public import Logging
public import Whizbang

extension SQLiteEventStore {
    /// How an ``SQLiteEventStore`` opens and runs its database.
    ///
    /// The defaults suit a server with one store per process: durable commits, a 64 MiB page cache for the writer,
    /// 4 KiB pages and two reader connections.
    public struct Configuration: Sendable {
        /// When an append counts as committed.
        public enum Durability: Hashable, Sendable {
            /// An append returns after its transaction is fsynced (`PRAGMA synchronous=FULL`): it survives a power
            /// loss. Group commit shares one fsync among all the appends pending at the time.
            case full
            /// An append returns after its transaction is written to the WAL, without waiting for fsync
            /// (`PRAGMA synchronous=NORMAL`): it survives a crash of the process, but a power loss or an operating
            /// system crash may lose the last commits (never corrupt the database).
            case normal
        }

        /// When an append counts as committed. Default ``Durability/full``.
        public var durability: Durability = .full

        /// How long a connection waits for another process (or another store on the same file) to release its
        /// lock before failing with `EventStoreError/Code/unavailable` (retryable: the statement that waited wrote
        /// nothing). Zero fails at once; a negative value is refused (`invalidArgument`). Default 5 seconds.
        public var busyTimeout: Duration = .seconds(5)

        /// The page cache of each connection, in bytes. Default 64 MiB for the writer; readers use a quarter each.
        public var pageCacheBytes: Int = 64 << 20

        /// How many bytes of the database file each connection maps into memory (`PRAGMA mmap_size`); 0 disables
        /// memory mapping. Default 256 MiB.
        public var memoryMapBytes: Int = 256 << 20

        /// The page size of a new database, in bytes: a power of two from 512 to 65,536. Ignored for an existing
        /// database. Default 4 KiB: measured here with 256 concurrent single-event appenders, 4 KiB pages gave
        /// 65–100K appends/s against 43–69K for 16 KiB (each group commit writes every page it dirtied to the WAL,
        /// so smaller pages write fewer bytes); 16 KiB was ~20% faster only for 1,000-event appends, which are
        /// fast either way (430–520K events/s).
        public var pageSize: Int = 4096

        /// The largest event data, event metadata or snapshot data accepted, in bytes; larger ones fail with
        /// `EventStoreError/Code/payloadTooLarge`. At most 499,000,000 (an event's data and metadata share one
        /// SQLite row, which holds at most 1,000,000,000 bytes). Default 1 MiB.
        public var maximumPayloadBytes: Int = 1 << 20

        /// The most appends (and other writes) folded into one transaction by group commit. Default 1,024.
        public var maximumBatchSize: Int = 1024

        /// How many reader connections, each on a thread of its own, serve reads. Default 2.
        public var readerCount: Int = 2

        /// How many WAL pages trigger a passive checkpoint, run by a background connection so the writer never
        /// waits for it (SQLite's own automatic checkpoint, run by the committing writer, is off). Default 10,000
        /// pages (40 MiB with 4 KiB pages).
        public var checkpointPages: Int = 10_000

        /// The largest size, in bytes, the WAL file may reach while appends keep coming; 0 leaves it bounded only by
        /// ``checkpointPages``. Default 64 MiB.
        ///
        /// Before a commit could take the WAL past this size (judged by the largest commit so far), the writer runs a
        /// checkpoint that copies what the background checkpoints left and waits (up to ``busyTimeout``) until no
        /// reader uses the WAL, so its next transaction writes the WAL from its beginning; the file is then cut back
        /// to at most this size. Background checkpoints start by half of it at the latest, so the writer itself
        /// copies only the frames they had not reached. A single commit larger than this, or a reader that keeps
        /// its snapshot past the busy timeout, can still take the file beyond it: the writer then tries again once
        /// the WAL has grown by another eighth of the bound, and does not wait again for a reader still on the
        /// snapshot it waited for (one that is stopped, say), until that reader moves on. At least 1 MiB when not 0.
        public var maximumWALBytes: Int = 64 << 20

        /// Whether the writer gathers each commit's WAL writes and hands them to the file in a few large writes
        /// (pieces under 128 KiB), instead of SQLite's two `pwrite`s per page. Default `true`.
        ///
        /// A group commit dirties about a page per appended event, so this removes hundreds of system calls per
        /// commit. The frames reach the file when the commit's last frame is written, before the commit is synced
        /// or visible to other connections, and a failed write (a full disk) fails the commit as SQLite's own write
        /// would.
        public var gathersWALWrites: Bool = true

        /// How often the store looks for events appended by another process on the same file: while a task waits in
        /// ``SQLiteEventStore/waitForEvents(after:)``, and for as long as the store has ``readModels`` (which then
        /// follow those events within about this interval). Appends made through this store wake waiters and read
        /// models at once. It is also the longest a ``SQLiteEventStore/waitForReadModel(named:toReach:timeout:)``
        /// goes without reading the read model's status again. Values under 1 millisecond (zero or negative) count as
        /// 1 millisecond. Default 100 milliseconds.
        public var externalChangePollInterval: Duration = .milliseconds(100)

        /// Where the store logs, at debug and trace level. Default: a logger labelled `"whizbang.sqlite"`.
        public var logger: Logger = Logger(label: "whizbang.sqlite")
        /// Read models kept in the database and updated inside each append's transaction, in this order; see
        /// ``SQLiteInlineProjection``. Default: none.
        public var inlineProjections: [any SQLiteInlineProjection] = []

        /// Read models the store keeps in its own tables and answers queries on (see `Whizbang/ReadModelStore`),
        /// with distinct names. `inline` ones that have caught up are folded inside each
        /// append's transaction; backfills, rebuilds and `async` ones run in batches on the
        /// writer thread between group commits. Default: none.
        public var readModels: [any ReadModelProjection] = []

        /// The most events one read model batch (a backfill, rebuild or async catch-up transaction) applies. Larger
        /// batches build faster; smaller ones hold up the appends queued behind them for less time. Default: 1,000.
        public var readModelBatchSize: Int = 1_000

        /// Called on the writer thread after each read model batch commits; returning `false` stops further
        /// batches of this store. For tests that need to act between batches.
        package var readModelBatchCommitted: (@Sendable (SQLiteReadModelBatch) -> Bool)?

        /// Creates a configuration with the default values.
        public init() {}

        /// The shortest interval the store polls at, whatever ``externalChangePollInterval`` says.
        static let minimumPollInterval = Duration.milliseconds(1)

        /// ``externalChangePollInterval``, at least ``minimumPollInterval``: the interval the store's polls use, so
        /// that zero or a negative value never makes a loop of reads.
        var pollInterval: Duration {
            max(externalChangePollInterval, Self.minimumPollInterval)
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, clamped to `0...Int32.max`.
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        guard seconds < Int64(Int32.max) / 1000 + 1 else { return .max }
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
