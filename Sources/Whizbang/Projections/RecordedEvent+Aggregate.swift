extension RecordedEvent {
    /// Decodes the event with an aggregate's registry; `nil` if the registry does not know its type name.
    ///
    /// Projections and process managers see every event of the log; this picks out the ones of one aggregate type.
    /// Type names are matched, not streams: when two aggregates register the same name, check ``streamID`` too.
    ///
    /// - Throws: ``EventDecodingError`` (code ``EventDecodingError/Code/undecodablePayload``) for a payload that does
    ///   not decode, or ``EventDecodingError/Code/unknownSchemaVersion`` for a known type name at a schema version the
    ///   registry does not read, naming the event's stream, version, position, type and schema version, with the
    ///   underlying error inside.
    public func decode<A: Aggregate>(as aggregate: A.Type) throws(EventDecodingError) -> A.Event? {
        do {
            return try A.events.decode(self)
        } catch where error.code == .unknownTypeName {
            return nil
        }
    }
}
