#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An event to append: its id, type name and encoded bytes.
public struct EventData: Hashable, Sendable {
    /// The event's id; stores use it to make retried appends idempotent. Usually the id of the message that caused it
    /// combined with its index, or a fresh ``MessageID``.
    public var eventID: MessageID
    /// The event's stable type name, used to pick a decoder when reading (for example `"Deposited"`).
    public var eventType: String
    /// The encoded event, usually JSON.
    public var data: Data
    /// The encoded envelope without its payload (correlation and causation ids, hops), usually JSON; may be empty.
    public var metadata: Data

    /// Creates an event to append.
    public init(eventID: MessageID = MessageID(), eventType: String, data: Data, metadata: Data = Data()) {
        self.eventID = eventID
        self.eventType = eventType
        self.data = data
        self.metadata = metadata
    }
}
