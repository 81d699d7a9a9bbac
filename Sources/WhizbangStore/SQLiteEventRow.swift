import CWhizbangSQLite
public import Foundation
public import Whizbang

/// One event of the global log, lent straight from its database row to the closure of
/// ``SQLiteEventStore/reduceAll(after:limit:into:_:)`` for the duration of one call.
///
/// Each property reads its column when it is asked for, so a fold pays only for the columns it uses. The byte
/// buffers point into SQLite's memory for the current row: they are valid only until the closure returns, and must
/// be copied to outlive it. ``recordedEvent(includingMetadata:)`` copies the whole row into a `RecordedEvent`, equal
/// to the one `readAll(after:limit:)` returns for it.
///
/// Not `Sendable`, on purpose: it lends memory that belongs to one reader connection's current row.
public struct SQLiteEventRow {
    let statement: SQLiteStatement
    unowned(unsafe) let reader: SQLiteReader

    /// The event's global position.
    public var position: UInt64 { statement.uint64(at: 0) }

    /// The event's version in its stream, from 1.
    public var streamVersion: UInt64 { statement.uint64(at: 1) }

    /// The event's id.
    public var eventID: MessageID { statement.messageID(at: 2) }

    /// The UTF-8 bytes of the event's type name; valid until the closure returns.
    public var eventTypeUTF8: UnsafeRawBufferPointer { statement.bytes(at: 3) }

    /// The event's type name, copied.
    public var eventType: String { statement.text(at: 3) }

    /// The schema version of the event's payload, from 1.
    public var schemaVersion: Int { Int(statement.int64(at: 7)) }

    /// The event's payload bytes; valid until the closure returns.
    public var data: UnsafeRawBufferPointer { statement.bytes(at: 4) }

    /// The event's metadata bytes (empty when it has none); valid until the closure returns.
    public var metadata: UnsafeRawBufferPointer { statement.bytes(at: 5) }

    /// When the event was recorded, to the microsecond.
    public var recordedAt: Date {
        Date(timeIntervalSince1970: Double(statement.int64(at: 6)) / 1_000_000)
    }

    /// The store's integer key of the event's stream.
    ///
    /// A stream's key is assigned when its first event is appended and never changes or is reused in this database;
    /// keys are small positive integers, so a fold can index an array with them instead of hashing stream ids.
    /// Two databases (a copy restored from an export, say) may key the same stream differently.
    public var streamKey: Int64 { statement.int64(at: 8) }

    /// The id of the event's stream, looked up by ``streamKey`` in the reader's cache of stream ids.
    ///
    /// A fold that keeps its state by ``streamKey`` asks for it once per stream, when it first meets the key.
    ///
    /// - Throws: `EventStoreError` when the lookup fails in storage.
    public var streamID: StreamID {
        get throws {
            do throws(SQLiteError) {
                return try reader.streamID(forKey: streamKey)
            } catch {
                throw error.eventStoreError
            }
        }
    }

    /// A copy of the whole row, equal to the event `readAll(after:limit:)` returns for it; without
    /// `includingMetadata` its metadata is empty, as `readAll(after:limit:includingMetadata:)` leaves it.
    ///
    /// - Throws: `EventStoreError` when the lookup of the stream id fails in storage, and `corruptDatabase` for a row
    ///   that no store writes (a position or version below 1, an event id that is not 16 bytes), which the
    ///   properties above read as 0 or the nil UUID.
    public func recordedEvent(includingMetadata: Bool = true) throws -> RecordedEvent {
        do {
            try statement.checkEventColumns()
        } catch {
            throw EventStoreError.storing(error)
        }
        return RecordedEvent(
            streamID: try streamID, streamVersion: streamVersion, position: position, eventID: eventID,
            eventType: eventType, schemaVersion: schemaVersion, data: statement.data(at: 4),
            metadata: includingMetadata ? statement.data(at: 5) : Data(), recordedAt: recordedAt)
    }
}
