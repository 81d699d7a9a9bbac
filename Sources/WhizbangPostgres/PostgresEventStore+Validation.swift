import Whizbang

extension PostgresEventStore {
    /// The most bytes that one append, or the appends of one call of ``append(_:through:)`` or of
    /// ``PostgresStoreTransaction/append(_:)``, may hold: 768 MiB, counting each event's data, metadata and type, and
    /// 64 bytes for its other fields (so one event at both payload limits fits). They reach the server in one
    /// message, and PostgreSQL takes no message of 1 GiB or more (the client stops the process on one of 2 GiB).
    /// Larger appends fail with `EventStoreError/Code/payloadTooLarge` before anything is sent.
    public static let maximumAppendBytes = 768 << 20

    /// Throws `payloadTooLarge` unless `bytes` of data and metadata fit in one append (``maximumAppendBytes``).
    static func validateAppendBytes(_ bytes: Int, streamID: StreamID?) throws(EventStoreError) {
        guard bytes <= maximumAppendBytes else {
            throw EventStoreError(
                .payloadTooLarge, streamID: streamID,
                message: "the append holds \(bytes) bytes of events (data, metadata, types and 64 bytes for each "
                    + "event's other fields); one append holds at most \(maximumAppendBytes): split it into several")
        }
    }

    /// Checks an append's arguments before it is queued; returns its bytes as ``maximumAppendBytes`` counts them.
    func validate(_ events: [EventData], streamID: StreamID) throws(EventStoreError) -> Int {
        try validateStreamID(streamID)
        let limit = configuration.maximumPayloadBytes
        var bytes = 0
        for event in events {
            try Self.validateText(event.eventType, what: "an event type", streamID: streamID)
            guard EventStoreValidation.validSchemaVersions.contains(event.schemaVersion) else {
                throw EventStoreError(
                    .invalidArgument, streamID: streamID,
                    message: "event \(event.eventID) has schema version \(event.schemaVersion); it must be 1 to "
                        + "\(EventStoreValidation.validSchemaVersions.upperBound)")
            }
            guard event.data.count <= limit, event.metadata.count <= limit else {
                throw EventStoreError(
                    .payloadTooLarge,
                    streamID: streamID,
                    message: "event \(event.eventID) has \(event.data.count) bytes of data and "
                        + "\(event.metadata.count) of metadata; the limit is \(limit)"
                )
            }
            bytes += event.data.count + event.metadata.count + event.eventType.utf8.count + 64
        }
        try Self.validateAppendBytes(bytes, streamID: streamID)
        if events.count > 1 {
            var seen = Set<MessageID>(minimumCapacity: events.count)
            for event in events where !seen.insert(event.eventID).inserted {
                throw EventStoreError(
                    .invalidArgument,
                    streamID: streamID,
                    message: "event id \(event.eventID) appears twice in one append"
                )
            }
        }
        return bytes
    }

    /// A stream id's length, and no NUL character, which PostgreSQL text cannot hold.
    func validateStreamID(_ streamID: StreamID) throws(EventStoreError) {
        try streamID.validate()
        guard !streamID.rawValue.utf8.contains(0) else {
            throw EventStoreError(
                .invalidStreamID, streamID: streamID, message: "a stream id must not contain a NUL character")
        }
    }

    /// Text that must not be empty nor hold a NUL character.
    static func validateText(_ text: String, what: String, streamID: StreamID? = nil) throws(EventStoreError) {
        guard !text.isEmpty else {
            throw EventStoreError(.invalidArgument, streamID: streamID, message: "\(what) is empty")
        }
        guard !text.utf8.contains(0) else {
            throw EventStoreError(
                .invalidArgument, streamID: streamID, message: "\(what) must not contain a NUL character")
        }
    }

    static func validate(limit: Int) throws(EventStoreError) {
        guard limit >= 0 else {
            throw EventStoreError(.invalidArgument, message: "a read limit must not be negative; it is \(limit)")
        }
    }
}
