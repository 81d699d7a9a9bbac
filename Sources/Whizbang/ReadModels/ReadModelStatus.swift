/// Where a read model stands in a store: live or still building, how far it has got, and which version it serves.
public struct ReadModelStatus: Hashable, Sendable {
    /// The phase a read model is in.
    public struct State: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case backfilling
            case live
            case failed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The rows are being built from the log for the first time; queries fail with
        /// ``ReadModelError/Code/notLive`` until the build reaches the head of the log.
        public static let backfilling = State(.backfilling)
        /// The rows served have been built up to the head of the log once and are kept up from there: an
        /// ``ReadModelMode/inline`` read model changes in the transaction of every append made through a store that
        /// registers it, an ``ReadModelMode/async`` one follows the log in batches. Either way the rows are exactly
        /// as of ``ReadModelStatus/position``, which trails ``ReadModelStatus/head`` while a batch is due: always for
        /// an async read model, and for an inline one after appends made without it (by another process that does
        /// not register it), which it then catches up with in batches. A rebuild may be running beside the rows
        /// served (``ReadModelStatus/rebuild``).
        public static let live = State(.live)
        /// The projection threw while the store built or followed the rows (``ReadModelStatus/failure`` says what).
        /// `SQLiteEventStore` and `PostgresEventStore` also fail a read model whose batch meets an event row they
        /// report as ``EventStoreError/Code/corruptDatabase``, which reading again would only meet again; errors that
        /// may pass (a lock held too long, an I/O error, a full disk, an outage) fail only the batch, which they try
        /// again. Registering the read model again (reopening the store) retries.
        ///
        /// A failure while following the rows served, or during the first backfill, stops the read model: the rows
        /// served stay as they were. A failure of a rebuild beside the rows served (``ReadModelStatus/rebuild`` says
        /// which version) stops only the rebuild: every store goes on serving the rows served, and keeps them up
        /// wherever they are of the version it runs (`SQLiteEventStore` and `PostgresEventStore` in every process
        /// that runs their version).
        public static let failed = State(.failed)

        /// `backfilling`, `live` or `failed`.
        public var description: String { base.rawValue }
    }

    /// A build of a new generation of the rows, beside the generation being served.
    public struct Rebuild: Hashable, Sendable {
        /// The ``ReadModelProjection/version`` being built.
        public var version: Int
        /// The position of the last event applied to the new rows.
        public var position: UInt64
        /// The head of the log when this report was made.
        public var head: UInt64

        /// Creates a report; stores create these.
        public init(version: Int, position: UInt64, head: UInt64) {
            self.version = version
            self.position = position
            self.head = head
        }

        /// The share of the log applied to the new rows, from 0 to 1; 1 for an empty log.
        public var fractionCompleted: Double {
            head == 0 ? 1 : Double(Swift.min(position, head)) / Double(head)
        }
    }

    /// The read model's name.
    public var name: String
    /// The phase it is in.
    public var state: State
    /// The version whose rows queries read; `nil` while the first backfill runs.
    public var servedVersion: Int?
    /// The position of the last event applied to the rows served (or, while ``State/backfilling``, to the rows
    /// being built).
    public var position: UInt64
    /// The head of the log when this report was made.
    public var head: UInt64
    /// A rebuild running beside the rows served, if any.
    public var rebuild: Rebuild?
    /// What the projection threw, or the store's error, for ``State/failed``.
    public var failure: String?

    /// Creates a report; stores create these.
    public init(
        name: String, state: State, servedVersion: Int?, position: UInt64, head: UInt64, rebuild: Rebuild? = nil,
        failure: String? = nil
    ) {
        self.name = name
        self.state = state
        self.servedVersion = servedVersion
        self.position = position
        self.head = head
        self.rebuild = rebuild
        self.failure = failure
    }
}
