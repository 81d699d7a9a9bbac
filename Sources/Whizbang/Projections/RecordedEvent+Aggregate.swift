extension RecordedEvent {
    /// Decodes the event with an aggregate's registry; `nil` if the registry does not know its type name.
    ///
    /// Projections and process managers see every event of the log; this picks out the ones of one aggregate type.
    /// Type names are matched, not streams: when two aggregates register the same name, check ``streamID`` too.
    ///
    /// - Throws: the codec's error for a payload that does not decode.
    public func decode<A: Aggregate>(as aggregate: A.Type) throws -> A.Event? {
        do {
            return try A.events.decode(typeName: eventType, data: data)
        } catch let error as EventCodingError where error.code == .unknownTypeName {
            return nil
        }
    }
}
