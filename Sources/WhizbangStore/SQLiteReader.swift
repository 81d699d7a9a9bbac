import CWhizbangSQLite
import Foundation
import Whizbang

/// A reader connection with its prepared statements, used by one reader thread.
///
/// Each read runs in its own implicit transaction, so it sees every commit announced before it started and never a
/// partly written one.
final class SQLiteReader {
    let connection: SQLiteConnection
    /// Stops the running read when its task is cancelled; see ``SQLiteReadJob``.
    let cancellation = SQLiteReadCancellation()
    private let selectStream: SQLiteStatement
    private let selectStreamID: SQLiteStatement
    private let readForwards: SQLiteStatement
    private let readBackwards: SQLiteStatement
    private let readAllStatement: SQLiteStatement
    private let selectHead: SQLiteStatement
    private let selectCheckpoint: SQLiteStatement
    private let selectSnapshot: SQLiteStatement
    private let selectEventByID: SQLiteStatement
    /// Stream ids by stream key, indexed by the key: keys are the small positive integers SQLite assigns, so a
    /// lookup is an array index (a global read looks one up per event). The array grows to the largest key read,
    /// up to ``indexedStreamKeys``; a key never changes its id, so entries never go stale.
    private var streamIDsByIndex: [StreamID?] = []
    private let indexedStreamKeys = 1 << 18
    /// Stream ids of larger keys; emptied when it grows past ``streamCacheLimit``.
    private var streamIDs: [Int64: StreamID] = [:]
    private let streamCacheLimit = 100_000
    /// Statements prepared on first use, by SQL text (the read model queries, of which there are a few shapes).
    private var preparedStatements: [String: SQLiteStatement] = [:]

    /// The prepared statement for `sql`, prepared on first use and kept for the connection's life.
    func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = preparedStatements[sql] { return statement }
        let statement = try connection.prepare(sql)
        preparedStatements[sql] = statement
        return statement
    }

    /// Prepares the reader's statements.
    ///
    /// - Parameter hasSchemaVersionColumn: whether the database's `events` table has the `schema_version` column
    ///   (schema version 3 on); a read-only store reads an older database as it is, each event at version 1.
    init(connection: SQLiteConnection, hasSchemaVersionColumn: Bool = true) throws(SQLiteError) {
        self.connection = connection
        cancellation.install(on: connection.handle)
        selectStream = try connection.prepare(SQLiteSchema.selectStreamSQL)
        selectStreamID = try connection.prepare("SELECT stream_id FROM streams WHERE stream_key = ?1")
        let schemaVersion = hasSchemaVersionColumn ? "schema_version" : "1"
        let columns = "position, version, event_id, event_type, data, metadata, recorded_at, \(schemaVersion)"
        readForwards = try connection.prepare(
            "SELECT \(columns) FROM events WHERE stream_key = ?1 AND version >= ?2 ORDER BY version LIMIT ?3"
        )
        readBackwards = try connection.prepare(
            "SELECT \(columns) FROM events WHERE stream_key = ?1 AND version <= ?2 ORDER BY version DESC LIMIT ?3"
        )
        readAllStatement = try connection.prepare(
            """
            SELECT \(columns), stream_key FROM events WHERE position > ?1 ORDER BY position LIMIT ?2
            """
        )
        selectEventByID = try connection.prepare("SELECT \(columns), stream_key FROM events WHERE event_id = ?1")
        selectHead = try connection.prepare("SELECT max(position) FROM events")
        selectCheckpoint = try connection.prepare("SELECT position FROM checkpoints WHERE consumer = ?1")
        selectSnapshot = try connection.prepare(
            "SELECT version, state_type, data FROM snapshots WHERE stream_id = ?1"
        )
    }

    /// The stream's key and version; `nil` if it has no events.
    private func lookUpStream(_ streamID: StreamID) throws(SQLiteError) -> (key: Int64, version: UInt64)? {
        defer { selectStream.reset() }
        selectStream.bind(streamID.rawValue, at: 1)
        guard try selectStream.step() else { return nil }
        return (selectStream.int64(at: 0), selectStream.uint64(at: 1))
    }

    func streamVersion(of streamID: StreamID) throws(SQLiteError) -> UInt64 {
        try lookUpStream(streamID)?.version ?? 0
    }

    func headPosition() throws(SQLiteError) -> UInt64 {
        defer { selectHead.reset() }
        guard try selectHead.step() else { return 0 }
        return selectHead.uint64(at: 0)
    }

    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int)
        throws(SQLiteError) -> [RecordedEvent]
    {
        guard limit > 0, let stream = try lookUpStream(streamID) else { return [] }
        let statement = direction == .forwards ? readForwards : readBackwards
        defer { statement.reset() }
        statement.bind(stream.key, at: 1)
        statement.bind(version, at: 2)
        statement.bind(Int64(limit), at: 3)
        var events: [RecordedEvent] = []
        events.reserveCapacity(min(limit, Int(clamping: stream.version), 4_096))
        while try statement.step() {
            events.append(try Self.event(statement, streamID: streamID))
        }
        return events
    }

    /// Reads up to `limit` events after `position`; without `includingMetadata`, each event's metadata is left
    /// empty and its column is never copied out of the row.
    func readAll(after position: UInt64, limit: Int, includingMetadata: Bool = true) throws(SQLiteError)
        -> [RecordedEvent]
    {
        guard limit > 0 else { return [] }
        let statement = readAllStatement
        defer { statement.reset() }
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        var events: [RecordedEvent] = []
        events.reserveCapacity(min(limit, 4096))
        var lastKey: Int64 = -1
        var lastStreamID = StreamID("")
        while try statement.step() {
            let key = statement.int64(at: 8)
            if key != lastKey {
                lastStreamID = try streamID(forKey: key)
                lastKey = key
            }
            events.append(try Self.event(statement, streamID: lastStreamID, includingMetadata: includingMetadata))
        }
        return events
    }

    /// Lends up to `limit` events after `position` to `update`, one row at a time, in position order; see
    /// ``SQLiteEventRow``.
    func reduceAll<State>(
        after position: UInt64,
        limit: Int,
        into state: inout State,
        _ update: (inout State, SQLiteEventRow) throws -> Void
    ) throws {
        guard limit > 0 else { return }
        let statement = readAllStatement
        defer { statement.reset() }
        statement.bind(position, at: 1)
        statement.bind(Int64(limit), at: 2)
        let row = SQLiteEventRow(statement: statement, reader: self)
        while try statement.step() {
            try update(&state, row)
        }
    }

    /// The event stored under `eventID` (through the unique index on event ids), if any.
    func event(withID eventID: MessageID) throws(SQLiteError) -> RecordedEvent? {
        defer { selectEventByID.reset() }
        selectEventByID.bind(eventID, at: 1)
        guard try selectEventByID.step() else { return nil }
        return try Self.event(selectEventByID, streamID: try streamID(forKey: selectEventByID.int64(at: 8)))
    }

    /// Builds a recorded event from a row whose first eight columns are those of the read statements.
    ///
    /// - Throws: `SQLITE_CORRUPT` for a row no store writes (``SQLiteStatement/corruptEventRow()``).
    @inline(__always)
    private static func event(_ statement: SQLiteStatement, streamID: StreamID, includingMetadata: Bool = true)
        throws(SQLiteError) -> RecordedEvent
    {
        let position = statement.int64(at: 0)
        let version = statement.int64(at: 1)
        guard position >= 1, version >= 1, let eventID = statement.checkedMessageID(at: 2) else {
            throw statement.corruptEventRow()
        }
        let microseconds = statement.int64(at: 6)
        return RecordedEvent(
            streamID: streamID,
            streamVersion: UInt64(version),
            position: UInt64(position),
            eventID: eventID,
            eventType: statement.text(at: 3),
            schemaVersion: Int(statement.int64(at: 7)),
            data: statement.data(at: 4),
            metadata: includingMetadata ? statement.data(at: 5) : Data(),
            recordedAt: Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
        )
    }

    /// The id of the stream under `key`, from the cache or the `streams` table.
    func streamID(forKey key: Int64) throws(SQLiteError) -> StreamID {
        let isIndexed = key >= 0 && key < indexedStreamKeys
        if isIndexed {
            if key < streamIDsByIndex.count, let cached = streamIDsByIndex[Int(key)] { return cached }
        } else if let cached = streamIDs[key] {
            return cached
        }
        defer { selectStreamID.reset() }
        selectStreamID.bind(key, at: 1)
        let streamID = try selectStreamID.step() ? StreamID(selectStreamID.text(at: 0)) : StreamID("")
        if isIndexed {
            let index = Int(key)
            if index >= streamIDsByIndex.count {
                let count = min(max(index + 1, 2 * streamIDsByIndex.count), indexedStreamKeys)
                streamIDsByIndex.append(contentsOf: repeatElement(nil, count: count - streamIDsByIndex.count))
            }
            streamIDsByIndex[index] = streamID
        } else {
            if streamIDs.count >= streamCacheLimit { streamIDs.removeAll(keepingCapacity: true) }
            streamIDs[key] = streamID
        }
        return streamID
    }

    func checkpoint(for consumer: String) throws(SQLiteError) -> UInt64? {
        defer { selectCheckpoint.reset() }
        selectCheckpoint.bind(consumer, at: 1)
        guard try selectCheckpoint.step() else { return nil }
        return selectCheckpoint.uint64(at: 0)
    }

    func latestSnapshot(for streamID: StreamID) throws(SQLiteError) -> Snapshot? {
        defer { selectSnapshot.reset() }
        selectSnapshot.bind(streamID.rawValue, at: 1)
        guard try selectSnapshot.step() else { return nil }
        return Snapshot(
            streamID: streamID,
            streamVersion: selectSnapshot.uint64(at: 0),
            stateType: selectSnapshot.text(at: 1),
            data: selectSnapshot.data(at: 2)
        )
    }

    /// The problems `PRAGMA integrity_check` finds; empty when the database is sound.
    func integrityCheck() throws(SQLiteError) -> [String] {
        let lines = try connection.queryTexts("PRAGMA integrity_check")
        return lines == ["ok"] ? [] : lines
    }
}
