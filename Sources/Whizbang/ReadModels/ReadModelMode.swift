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
    public static let inline = ReadModelMode(.inline)

    /// After the append, in a transaction of the store's own that applies a batch of events and records the read
    /// model's position with them. Appends do not wait for it and do not fail when it fails; the rows lag the log by
    /// a little, which ``ReadModelStatus/position`` shows and ``ReadModelStore/waitForReadModel(named:toReach:timeout:)``
    /// waits out.
    public static let async = ReadModelMode(.async)

    /// `inline` or `async`.
    public var description: String { base.rawValue }
}
