#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An event as the store recorded it: the appended ``EventData`` plus where and when it was stored.
public struct RecordedEvent: Hashable, Sendable {
    /// The stream the event belongs to.
    public var streamID: StreamID
    /// The event's version within its stream: 1 for the first event, contiguous after that.
    public var streamVersion: UInt64
    /// The event's position in the store's global log: 1 for the first event, strictly increasing in commit order.
    public var position: UInt64
    /// The id the event was appended with.
    public var eventID: MessageID
    /// The event's type name.
    public var eventType: String
    /// The version of the event type's shape that ``data`` is written in, as appended (``EventData/schemaVersion``);
    /// 1 for every event stored before stores recorded it.
    public var schemaVersion: Int
    /// The encoded event.
    public var data: Data
    /// The encoded envelope without its payload; may be empty.
    public var metadata: Data
    /// When the store recorded the event.
    public var recordedAt: Date

    /// Creates a recorded event, at schema version 1 unless `schemaVersion` says otherwise; stores and tests use this,
    /// applications read them.
    public init(
        streamID: StreamID,
        streamVersion: UInt64,
        position: UInt64,
        eventID: MessageID,
        eventType: String,
        schemaVersion: Int = 1,
        data: Data,
        metadata: Data,
        recordedAt: Date
    ) {
        self.streamID = streamID
        self.streamVersion = streamVersion
        self.position = position
        self.eventID = eventID
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
        self.recordedAt = recordedAt
    }
}
