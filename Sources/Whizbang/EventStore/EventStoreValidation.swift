/// The checks every store makes on its arguments before it decides or writes anything, with one set of names and
/// messages.
///
/// A store calls these before it takes a lock or queues a write, so an invalid request fails the same way on every
/// store and never reaches the storage engine.
public enum EventStoreValidation {
    /// The schema versions a store accepts: 1 up to `Int32.max`, which every store's column holds.
    public static let validSchemaVersions: ClosedRange<Int> = 1...Int(Int32.max)

    /// Checks an append: the stream id (``StreamID/validate()``), each event type (non-empty, no NUL character),
    /// each schema version (``validSchemaVersions``), distinct event ids, and data and metadata of at most
    /// `maximumPayloadBytes` bytes each.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``, ``EventStoreError/Code/invalidArgument`` or
    ///   ``EventStoreError/Code/payloadTooLarge``.
    public static func validateAppend(_ events: [EventData], to streamID: StreamID, maximumPayloadBytes: Int)
        throws(EventStoreError)
    {
        try streamID.validate()
        // Most appends carry one event or a few: compare their ids pairwise instead of building a set.
        var eventIDs = events.count > 8 ? Set<MessageID>(minimumCapacity: events.count) : nil
        for (index, event) in events.enumerated() {
            try validateName(event.eventType, "the event type of event \(index)", streamID: streamID)
            guard validSchemaVersions.contains(event.schemaVersion) else {
                throw EventStoreError(
                    .invalidArgument, streamID: streamID,
                    message: "the schema version of event \(index) is \(event.schemaVersion); it must be 1 to "
                        + "\(validSchemaVersions.upperBound)")
            }
            let isDistinct =
                if eventIDs != nil {
                    eventIDs!.insert(event.eventID).inserted
                } else {
                    !events[..<index].contains { $0.eventID == event.eventID }
                }
            guard isDistinct else {
                throw EventStoreError(
                    .invalidArgument, streamID: streamID,
                    message: "event id \(event.eventID) appears more than once in one append")
            }
            try validatePayload(
                event.data.count, "the data of event \(index)", streamID: streamID,
                maximumPayloadBytes: maximumPayloadBytes)
            try validatePayload(
                event.metadata.count, "the metadata of event \(index)", streamID: streamID,
                maximumPayloadBytes: maximumPayloadBytes)
        }
    }

    /// The largest position or stream version a store accepts in a checkpoint or a snapshot: `Int64.max`, which
    /// every store's column holds.
    public static let maximumPosition = UInt64(Int64.max)

    /// Checks a snapshot: its stream id, its state type (non-empty, no NUL character), a stream version of at most
    /// ``maximumPosition`` and data of at most `maximumPayloadBytes` bytes.
    ///
    /// - Throws: ``EventStoreError/Code/invalidStreamID``, ``EventStoreError/Code/invalidArgument`` or
    ///   ``EventStoreError/Code/payloadTooLarge``.
    public static func validateSnapshot(_ snapshot: Snapshot, maximumPayloadBytes: Int) throws(EventStoreError) {
        try snapshot.streamID.validate()
        try validateName(snapshot.stateType, "a snapshot's state type", streamID: snapshot.streamID)
        guard snapshot.streamVersion <= maximumPosition else {
            throw EventStoreError(
                .invalidArgument, streamID: snapshot.streamID,
                message: "a snapshot's stream version must be at most \(maximumPosition); it is \(snapshot.streamVersion)")
        }
        try validatePayload(
            snapshot.data.count, "the snapshot data", streamID: snapshot.streamID,
            maximumPayloadBytes: maximumPayloadBytes)
    }

    /// Checks a checkpoint's consumer name: non-empty, no NUL character. Names are compared byte for byte, like
    /// stream ids.
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument``.
    public static func validateConsumer(_ consumer: String) throws(EventStoreError) {
        try validateName(consumer, "a checkpoint's consumer name", streamID: nil)
    }

    /// Checks a checkpoint: its consumer name (``validateConsumer(_:)``) and a position of at most
    /// ``maximumPosition``.
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument``.
    public static func validateCheckpoint(_ position: UInt64, for consumer: String) throws(EventStoreError) {
        try validateConsumer(consumer)
        guard position <= maximumPosition else {
            throw EventStoreError(
                .invalidArgument,
                message: "the checkpoint of '\(consumer)' must be at most \(maximumPosition); it is \(position)")
        }
    }

    /// Checks a read's limit: not negative.
    ///
    /// - Throws: ``EventStoreError/Code/invalidArgument``.
    public static func validateReadLimit(_ limit: Int) throws(EventStoreError) {
        guard limit >= 0 else {
            throw EventStoreError(.invalidArgument, message: "a read limit must not be negative; it is \(limit)")
        }
    }

    /// Text that must be non-empty and free of NUL characters, which PostgreSQL text cannot hold.
    static func validateName(_ text: String, _ what: @autoclosure () -> String, streamID: StreamID?)
        throws(EventStoreError)
    {
        guard !text.isEmpty else {
            throw EventStoreError(.invalidArgument, streamID: streamID, message: "\(what()) must not be empty")
        }
        guard !text.utf8.contains(0) else {
            throw EventStoreError(
                .invalidArgument, streamID: streamID, message: "\(what()) must not contain a NUL character")
        }
    }

    /// One payload's size; the message is built only when the check fails.
    static func validatePayload(
        _ size: Int, _ what: @autoclosure () -> String, streamID: StreamID, maximumPayloadBytes: Int
    ) throws(EventStoreError) {
        guard size <= maximumPayloadBytes else {
            throw EventStoreError(
                .payloadTooLarge, streamID: streamID,
                message: "\(what()) has \(size) bytes; the limit is \(maximumPayloadBytes)")
        }
    }
}
