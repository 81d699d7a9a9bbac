/// What a store answers when ``AppendDecision/decide(_:to:expectedVersion:currentVersion:lookup:)`` asks about its
/// stored events, read inside the same lock or transaction as the stream's version.
public protocol AppendDecisionLookup {
    /// The error a lookup throws: a storage failure, or `Never`.
    associatedtype Failure: Error

    /// Where an event id is stored, or `nil` if it is not stored anywhere.
    mutating func location(of eventID: MessageID) throws(Failure) -> StoredEventLocation?

    /// Up to `limit` events of the appended stream with versions from `version` on, in version order.
    mutating func storedEvents(from version: UInt64, limit: Int) throws(Failure) -> [StoredEventReference]
}
