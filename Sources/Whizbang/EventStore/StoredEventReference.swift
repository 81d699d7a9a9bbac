/// A stored event's id and place, as an ``AppendDecisionLookup`` reports it.
public struct StoredEventReference: Hashable, Sendable {
    /// The event's version in the appended stream.
    public var streamVersion: UInt64
    /// The event's global position.
    public var position: UInt64
    /// The event's id.
    public var eventID: MessageID

    /// Creates a reference.
    public init(streamVersion: UInt64, position: UInt64, eventID: MessageID) {
        self.streamVersion = streamVersion
        self.position = position
        self.eventID = eventID
    }
}
