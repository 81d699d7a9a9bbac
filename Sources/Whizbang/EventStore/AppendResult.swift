/// What a successful append did.
public struct AppendResult: Hashable, Sendable {
    /// The stream appended to.
    public var streamID: StreamID
    /// The stream's version after the append: the version of its last event, or 0 if it still has none.
    public var streamVersion: UInt64
    /// The global positions of the appended events, in order. The events of one append are contiguous in the
    /// global log. Empty for an empty append. For an idempotent retry, the positions the events were first stored at.
    public var positions: Range<UInt64>

    /// Creates an append result.
    public init(streamID: StreamID, streamVersion: UInt64, positions: Range<UInt64>) {
        self.streamID = streamID
        self.streamVersion = streamVersion
        self.positions = positions
    }
}
