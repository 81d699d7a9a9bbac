import CSQLiteBaseline
import Foundation
import Whizbang
import WhizbangStore

/// The raw C-API baseline for reads: the store's queries on a reader connection, each row turned into the same
/// `RecordedEvent` the store returns (text as `String`, payloads as `Data`, the id as `MessageID`, the time as
/// `Date`, the stream id from a dictionary of stream keys filled on first sight — as the store's reader does).
///
/// Unlike the store it runs on the calling thread, with no hand-over to a reader thread, and reads the whole log
/// with one statement rather than in batches.
final class RawReader {
    let connection: RawConnection
    private let readLog: RawStatement
    private let readStreamForwards: RawStatement
    private let selectStream: RawStatement
    private let selectStreamID: RawStatement
    private var streamIDs: [Int64: StreamID] = [:]

    init(path: String) throws {
        connection = try RawConnection(path: path, role: .reader, durability: .full)
        let columns = "position, version, event_id, event_type, data, metadata, recorded_at"
        readLog = try connection.prepare("SELECT \(columns), stream_key FROM events ORDER BY position")
        readStreamForwards = try connection.prepare(
            "SELECT \(columns) FROM events WHERE stream_key = ?1 AND version >= ?2 ORDER BY version LIMIT ?3"
        )
        selectStream = try connection.prepare("SELECT stream_key FROM streams WHERE stream_id = ?1")
        selectStreamID = try connection.prepare("SELECT stream_id FROM streams WHERE stream_key = ?1")
    }

    /// Reads the whole log in position order, handing the events to `consume` in arrays of up to `chunkSize`
    /// (one array, emptied and reused); returns how many events it read.
    func readWholeLog(chunkSize: Int, _ consume: ([RecordedEvent]) -> Void) throws -> Int {
        defer { readLog.reset() }
        var chunk: [RecordedEvent] = []
        chunk.reserveCapacity(chunkSize)
        var count = 0
        var lastKey: Int64 = -1
        var lastStreamID = StreamID("")
        while try readLog.step() {
            let key = readLog.int64(at: 7)
            if key != lastKey {
                lastStreamID = try streamID(forKey: key)
                lastKey = key
            }
            chunk.append(Self.event(readLog, streamID: lastStreamID))
            if chunk.count == chunkSize {
                consume(chunk)
                count += chunk.count
                chunk.removeAll(keepingCapacity: true)
            }
        }
        consume(chunk)
        return count + chunk.count
    }

    /// Reads up to `limit` events of a stream from `version` on.
    func readStream(_ streamID: StreamID, from version: UInt64, limit: Int) throws -> [RecordedEvent] {
        selectStream.bind(streamID.rawValue, at: 1)
        let found = try selectStream.step()
        let key = selectStream.int64(at: 0)
        selectStream.reset()
        guard found else { return [] }
        defer { readStreamForwards.reset() }
        readStreamForwards.bind(key, at: 1)
        readStreamForwards.bind(Int64(version), at: 2)
        readStreamForwards.bind(Int64(limit), at: 3)
        var events: [RecordedEvent] = []
        events.reserveCapacity(limit)
        while try readStreamForwards.step() {
            events.append(Self.event(readStreamForwards, streamID: streamID))
        }
        return events
    }

    private func streamID(forKey key: Int64) throws -> StreamID {
        if let cached = streamIDs[key] { return cached }
        defer { selectStreamID.reset() }
        selectStreamID.bind(key, at: 1)
        guard try selectStreamID.step() else { return StreamID("") }
        let streamID = StreamID(Self.text(selectStreamID, at: 0))
        streamIDs[key] = streamID
        return streamID
    }

    @inline(__always)
    private static func event(_ statement: RawStatement, streamID: StreamID) -> RecordedEvent {
        let handle = statement.handle
        let id = sqlite3_column_blob(handle, 2)!
        return RecordedEvent(
            streamID: streamID,
            streamVersion: UInt64(sqlite3_column_int64(handle, 1)),
            position: UInt64(sqlite3_column_int64(handle, 0)),
            eventID: MessageID(
                high: UInt64(bigEndian: id.loadUnaligned(as: UInt64.self)),
                low: UInt64(bigEndian: id.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            ),
            eventType: text(statement, at: 3),
            data: bytes(statement, at: 4),
            metadata: bytes(statement, at: 5),
            recordedAt: Date(timeIntervalSince1970: Double(sqlite3_column_int64(handle, 6)) / 1_000_000)
        )
    }

    @inline(__always)
    private static func text(_ statement: RawStatement, at column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement.handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement.handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    @inline(__always)
    private static func bytes(_ statement: RawStatement, at column: Int32) -> Data {
        guard let pointer = sqlite3_column_blob(statement.handle, column) else { return Data() }
        return Data(bytes: pointer, count: Int(sqlite3_column_bytes(statement.handle, column)))
    }
}
