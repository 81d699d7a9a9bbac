#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An aggregate's encoded state as of one version of its stream, to load it without replaying every event.
public struct Snapshot: Hashable, Sendable {
    /// The stream the snapshot summarises.
    public var streamID: StreamID
    /// The stream version the state includes: events after it are applied on top.
    public var streamVersion: UInt64
    /// The state's type name, to choose its decoder and to ignore snapshots of an older shape.
    public var stateType: String
    /// The encoded state.
    public var data: Data

    /// Creates a snapshot.
    public init(streamID: StreamID, streamVersion: UInt64, stateType: String, data: Data) {
        self.streamID = streamID
        self.streamVersion = streamVersion
        self.stateType = stateType
        self.data = data
    }
}
