/// Where a stored event id is, as an ``AppendDecisionLookup`` reports it.
public struct StoredEventLocation: Hashable, Sendable {
    /// Whether the event is in the stream being appended to.
    public var isInAppendedStream: Bool
    /// The event's version in its stream.
    public var streamVersion: UInt64

    /// Creates a location.
    public init(isInAppendedStream: Bool, streamVersion: UInt64) {
        self.isInAppendedStream = isInAppendedStream
        self.streamVersion = streamVersion
    }
}
