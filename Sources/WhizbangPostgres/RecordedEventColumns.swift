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

    /// Decodes a row of ``withStreamID``.
    static func decode(_ row: PostgresRow) throws -> RecordedEvent {
        let (position, streamID, version, eventID, eventType, data, metadata, recordedAt, schemaVersion) =
            try row.decode((Int64, String, Int64, UUID, String, Data, Data, Date, Int32).self)
        return RecordedEvent(
            streamID: StreamID(streamID), streamVersion: UInt64(version), position: UInt64(position),
            eventID: MessageID(eventID), eventType: eventType, schemaVersion: Int(schemaVersion), data: data,
            metadata: metadata, recordedAt: recordedAt)
    }

    /// Decodes a row of ``withoutStreamID``, an event of `streamID`.
    static func decode(_ row: PostgresRow, streamID: StreamID) throws -> RecordedEvent {
        let (position, version, eventID, eventType, data, metadata, recordedAt, schemaVersion) = try row.decode(
            (Int64, Int64, UUID, String, Data, Data, Date, Int32).self)
        return RecordedEvent(
            streamID: streamID, streamVersion: UInt64(version), position: UInt64(position),
            eventID: MessageID(eventID), eventType: eventType, schemaVersion: Int(schemaVersion), data: data,
            metadata: metadata, recordedAt: recordedAt)
    }
}
