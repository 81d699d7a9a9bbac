import Foundation
import PostgresNIO
import Whizbang

/// The columns every query that returns events selects, beside the one decoder of them: a statement that decodes
/// its rows here selects its columns from here, so the two cannot drift apart.
///
/// The queries alias the events table `e` and the streams table `s`.
enum RecordedEventColumns {
    /// An event and its stream id, for reads of the global log.
    static let withStreamID =
        "e.position, s.stream_id, e.version, e.event_id, e.event_type, e.data, e.metadata, e.recorded_at, e.schema_version"

    /// An event without its stream id, for reads of one stream, whose id the caller knows.
    static let withoutStreamID =
        "e.position, e.version, e.event_id, e.event_type, e.data, e.metadata, e.recorded_at, e.schema_version"

    /// A position, version or count read from the database as the unsigned value the store works with. No store
    /// writes a negative one (the schema has no check that says so): a row changed by hand would trap the
    /// conversion, and with it the process, so it is refused as `corruptDatabase`.
    ///
    /// - Parameter position: the position of the event whose column it is, to name in the error.
    static func stored(_ value: Int64, _ column: @autoclosure () -> String, position: Int64? = nil)
        throws(EventStoreError) -> UInt64
    {
        guard value >= 0 else {
            let place = position.map { " of the event at position \($0)" } ?? ""
            throw EventStoreError(
                .corruptDatabase,
                message: "the \(column())\(place) is \(value), which the store never writes: the database was changed "
                    + "outside it")
        }
        return UInt64(value)
    }

    /// Decodes a row of ``withStreamID``.
    static func decode(_ row: PostgresRow) throws -> RecordedEvent {
        let (position, streamID, version, eventID, eventType, data, metadata, recordedAt, schemaVersion) =
            try row.decode((Int64, String, Int64, UUID, String, Data, Data, Date, Int32).self)
        return RecordedEvent(
            streamID: StreamID(streamID), streamVersion: try stored(version, "version", position: position),
            position: try stored(position, "position", position: position),
            eventID: MessageID(eventID), eventType: eventType, schemaVersion: Int(schemaVersion), data: data,
            metadata: metadata, recordedAt: recordedAt)
    }

    /// Decodes a row of ``withoutStreamID``, an event of `streamID`.
    static func decode(_ row: PostgresRow, streamID: StreamID) throws -> RecordedEvent {
        let (position, version, eventID, eventType, data, metadata, recordedAt, schemaVersion) = try row.decode(
            (Int64, Int64, UUID, String, Data, Data, Date, Int32).self)
        return RecordedEvent(
            streamID: streamID, streamVersion: try stored(version, "version", position: position),
            position: try stored(position, "position", position: position),
            eventID: MessageID(eventID), eventType: eventType, schemaVersion: Int(schemaVersion), data: data,
            metadata: metadata, recordedAt: recordedAt)
    }
}
