/// An aggregate's state as of a version of its stream.
public struct LoadedAggregate<A: Aggregate>: Sendable {
    /// The aggregate's stream.
    public let streamID: StreamID
    /// The state after the first ``version`` events of the stream.
    public let state: A.State
    /// The stream version the state includes; 0 for an aggregate with no events.
    public let version: UInt64

    /// Creates a loaded aggregate.
    public init(streamID: StreamID, state: A.State, version: UInt64) {
        self.streamID = streamID
        self.state = state
        self.version = version
    }
}
