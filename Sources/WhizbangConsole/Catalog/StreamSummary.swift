public import Whizbang

/// One stream as the console's catalog knows it.
public struct StreamSummary: Hashable, Sendable, Codable {
    /// The stream's id.
    public var streamID: StreamID
    /// The stream's version: the number of events in it.
    public var version: UInt64
    /// The global position of the stream's last event.
    public var lastPosition: UInt64

    /// Creates a summary.
    public init(streamID: StreamID, version: UInt64, lastPosition: UInt64) {
        self.streamID = streamID
        self.version = version
        self.lastPosition = lastPosition
    }
}
