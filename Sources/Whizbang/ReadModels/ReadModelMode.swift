/// When a store applies the events of an append to a ``ReadModelProjection``.
public struct ReadModelMode: Hashable, Sendable, CustomStringConvertible {
    private enum Base: String, Hashable, Sendable {
        case inline
        case async
    }

    private let base: Base
    private init(_ base: Base) { self.base = base }

    /// In the append's own transaction, atomically with the events: once an append returns, its events are in the
    /// rows, and an append whose projection throws is not stored. The fold's cost is paid by every append.
    ///
    /// The rows always hold a prefix of the log, so this holds while every writer of the store registers the read
    /// model. After an append made without it (by another process that does not register it) the rows trail the log
    /// until the store has folded that append's events in a batch of its own, and an append that returns meanwhile
    /// is not yet in them: wait for it with ``ReadModel/waitUntilCaughtUp(to:timeout:)``.
    public static let inline = ReadModelMode(.inline)

    /// After the append, in a transaction of the store's own that applies a batch of events and records the read
    /// model's position with them. Appends do not wait for it and do not fail when it fails; the rows lag the log by
    /// a little, which ``ReadModelStatus/position`` shows and ``ReadModelStore/waitForReadModel(named:toReach:timeout:)``
    /// waits out.
    public static let async = ReadModelMode(.async)

    /// `inline` or `async`.
    public var description: String { base.rawValue }
}
