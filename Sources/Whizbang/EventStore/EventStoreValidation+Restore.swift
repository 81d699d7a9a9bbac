extension EventStoreValidation {
    /// Checks a whole log before a store restores it: each run of one stream's events as an append
    /// (``validateAppend(_:to:maximumPayloadBytes:)``), positions 1, 2, 3… in the order given, each stream's
    /// versions 1, 2, 3…, and no event id twice in the log.
    ///
    /// - Returns: Each stream's version after the log, by stream id.
    /// - Throws: ``EventStoreError/Code/invalidArgument`` for a position out of order (the message names the event),
    ///   ``EventStoreError/Code/wrongExpectedVersion`` for a stream version that does not follow the one before,
    ///   ``EventStoreError/Code/duplicateEventID`` for an event id seen before, and what
    ///   ``validateAppend(_:to:maximumPayloadBytes:)`` throws.
    public static func validateRestore(_ events: [RecordedEvent], maximumPayloadBytes: Int) throws(EventStoreError)
        -> [StreamID: UInt64]
    {
        var versions: [StreamID: UInt64] = [:]
        var eventIDs = Set<MessageID>(minimumCapacity: events.count)
        var index = 0
        while index < events.count {
            let streamID = events[index].streamID
            var end = index + 1
            while end < events.count, end - index < 4096, events[end].streamID == streamID { end += 1 }
            try validateAppend(
                events[index..<end].map {
                    EventData(
                        eventID: $0.eventID, eventType: $0.eventType, schemaVersion: $0.schemaVersion, data: $0.data,
                        metadata: $0.metadata)
                },
                to: streamID, maximumPayloadBytes: maximumPayloadBytes)
            var version = versions[streamID] ?? 0
            for event in events[index..<end] {
                index += 1
                guard event.position == UInt64(index) else {
                    throw EventStoreError(
                        .invalidArgument, streamID: streamID,
                        message: "event \(event.eventID) has position \(event.position) where \(index) comes next "
                            + "(positions run 1, 2, 3… in the order given)")
                }
                guard event.streamVersion == version &+ 1 else {
                    throw EventStoreError.wrongExpectedVersion(
                        streamID, expected: .exact(event.streamVersion &- 1), actual: version,
                        message: "event \(event.eventID) has version \(event.streamVersion) of stream '\(streamID)', "
                            + "which is at version \(version) (versions run 1, 2, 3… in each stream)")
                }
                guard eventIDs.insert(event.eventID).inserted else {
                    throw EventStoreError(
                        .duplicateEventID, streamID: streamID,
                        message: "event id \(event.eventID) appears twice in the log, the second time at position "
                            + "\(event.position)")
                }
                version = event.streamVersion
            }
            versions[streamID] = version
        }
        return versions
    }
}
