#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An event to append: its id, type name, schema version and encoded bytes.
public struct EventData: Hashable, Sendable {
    /// The event's id; stores use it to make retried appends idempotent. Usually the id of the message that caused it
    /// combined with its index, or a fresh ``MessageID``.
    public var eventID: MessageID
    /// The event's stable type name, used to pick a decoder when reading (for example `"Deposited"`).
    public var eventType: String
    /// The version of the event type's shape that ``data`` is written in: 1 until the type's shape first changes.
    /// An ``EventRegistry`` writes its current version and reads older ones through upcasters; stores keep it with
    /// the event. At least 1, at most `Int32.max`.
    public var schemaVersion: Int
    /// The encoded event, usually JSON.
    public var data: Data
    /// The encoded envelope without its payload (correlation and causation ids, hops), usually JSON; may be empty.
    public var metadata: Data

    /// Creates an event to append, at schema version 1 unless `schemaVersion` says otherwise.
    public init(
        eventID: MessageID = MessageID(), eventType: String, schemaVersion: Int = 1, data: Data, metadata: Data = Data()
    ) {
        self.eventID = eventID
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
    }
}
