import CSQLiteBaseline
import Foundation
import Whizbang
import WhizbangStore

/// The raw C-API baseline for appends: the statements a hand-written application needs to append to the store's
/// schema with an expected version, and nothing else.
///
/// Per append: read the stream's key and version, insert the stream row (new stream) or update its version, insert
/// each event. The store does the same plus a `SAVEPOINT` / `RELEASE` around each append of a group commit, the
/// validation of stream id and payloads, and the hand-over to and from its writer thread — that difference is what
/// the benchmarks measure. Payloads are bound as text without a UTF-8 check (the baseline knows they are JSON).
///
/// `@unchecked Sendable`: used by one thread at a time (its owner's, or under a lock).
final class RawAppender: @unchecked Sendable {
    let connection: RawConnection
    private let begin: RawStatement
    private let commit: RawStatement
    private let selectStream: RawStatement
    private let insertStream: RawStatement
    private let updateStreamVersion: RawStatement
    private let insertEvent: RawStatement
    /// `SAVEPOINT request` and `RELEASE request`, the store's statements around each append of a group commit.
    let savepoint: RawStatement
    let releaseSavepoint: RawStatement

    init(path: String, durability: SQLiteEventStore.Configuration.Durability) throws {
        connection = try RawConnection(path: path, role: .writer, durability: durability)
        begin = try connection.prepare("BEGIN IMMEDIATE")
        commit = try connection.prepare("COMMIT")
        selectStream = try connection.prepare("SELECT stream_key, version FROM streams WHERE stream_id = ?1")
        insertStream = try connection.prepare("INSERT INTO streams (stream_id, version) VALUES (?1, ?2)")
        updateStreamVersion = try connection.prepare("UPDATE streams SET version = ?2 WHERE stream_key = ?1")
        savepoint = try connection.prepare("SAVEPOINT request")
        releaseSavepoint = try connection.prepare("RELEASE request")
        insertEvent = try connection.prepare(
            """
            INSERT INTO events (stream_key, version, event_id, event_type, data, metadata, recorded_at)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            """
        )
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` … `COMMIT` transaction (the benchmarks never fail inside it).
    func transaction<Result>(_ body: () throws -> Result) throws -> Result {
        try begin.run()
        let result = try body()
        try commit.run()
        return result
    }

    /// Appends events inside the caller's transaction if the stream is at `expectedVersion`; `false` on a conflict.
    func append(_ events: [EventData], to streamID: String, expectedVersion: UInt64, now: Int64) throws -> Bool {
        selectStream.bind(streamID, at: 1)
        let stored: (key: Int64, version: Int64)? =
            try selectStream.step() ? (selectStream.int64(at: 0), selectStream.int64(at: 1)) : nil
        selectStream.reset()
        guard UInt64(stored?.version ?? 0) == expectedVersion else { return false }
        let newVersion = Int64(expectedVersion) + Int64(events.count)
        let key: Int64
        if let stored {
            key = stored.key
            updateStreamVersion.bind(key, at: 1)
            updateStreamVersion.bind(newVersion, at: 2)
            try updateStreamVersion.run()
        } else {
            insertStream.bind(streamID, at: 1)
            insertStream.bind(newVersion, at: 2)
            try insertStream.run()
            key = sqlite3_last_insert_rowid(connection.handle)
        }
        var version = Int64(expectedVersion)
        for event in events {
            version += 1
            var eventType = event.eventType
            try event.data.withUnsafeBytes { data in
                try event.metadata.withUnsafeBytes { metadata in
                    try eventType.withUTF8 { type in
                        insertEvent.bind(key, at: 1)
                        insertEvent.bind(version, at: 2)
                        insertEvent.bind(high: event.eventID.high, low: event.eventID.low, at: 3)
                        insertEvent.bindBorrowedText(UnsafeRawBufferPointer(type), at: 4)
                        insertEvent.bindBorrowedText(data, at: 5)
                        insertEvent.bindBorrowedText(metadata, at: 6)
                        insertEvent.bind(now, at: 7)
                        try insertEvent.run()
                    }
                }
            }
        }
        return true
    }

    static func nowMicroseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
    }
}
