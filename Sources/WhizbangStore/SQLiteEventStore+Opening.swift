import CWhizbangSQLite
import Foundation
import Whizbang

extension SQLiteEventStore {
    /// The largest ``Configuration/maximumPayloadBytes`` a store accepts.
    static let maximumPayloadLimit = 499_000_000

    enum ConnectionRole {
        case writer, reader, maintenance
    }

    static func nowMicroseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func validate(_ configuration: Configuration) throws(EventStoreError) {
        func invalid(_ message: String) -> EventStoreError {
            EventStoreError(.invalidArgument, message: "invalid SQLite event store configuration: \(message)")
        }
        let pageSize = configuration.pageSize
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else {
            throw invalid("pageSize \(pageSize) is not a power of two from 512 to 65536")
        }
        guard configuration.busyTimeout >= .zero else { throw invalid("busyTimeout must not be negative") }
        guard configuration.readerCount >= 1 else { throw invalid("readerCount must be at least 1") }
        guard configuration.maximumBatchSize >= 1 else { throw invalid("maximumBatchSize must be at least 1") }
        guard configuration.maximumPayloadBytes >= 0 else { throw invalid("maximumPayloadBytes must not be negative") }
        // SQLite keeps at most 1,000,000,000 bytes in one value or row (SQLITE_MAX_LENGTH); an event's data and
        // metadata share a row, so each may have at most half of it, less the row's other columns.
        guard configuration.maximumPayloadBytes <= maximumPayloadLimit else {
            throw invalid("maximumPayloadBytes must be at most \(maximumPayloadLimit), SQLite's limit for a row's values")
        }
        guard configuration.pageCacheBytes >= 0, configuration.memoryMapBytes >= 0 else {
            throw invalid("pageCacheBytes and memoryMapBytes must not be negative")
        }
        guard configuration.checkpointPages >= 1 else { throw invalid("checkpointPages must be at least 1") }
        guard configuration.maximumWALBytes == 0 || configuration.maximumWALBytes >= 1 << 20 else {
            throw invalid("maximumWALBytes must be 0 (no size bound) or at least 1 MiB")
        }
        guard configuration.readModelBatchSize >= 1 else { throw invalid("readModelBatchSize must be at least 1") }
    }

    /// The last position of the log on `connection`, after checking that the positions are ones the store can
    /// have written: from 1 on, with room for the next one (SQLite would otherwise pick positions at random).
    ///
    /// - Throws: `EventStoreError/Code/corruptDatabase` otherwise.
    static func checkedHead(_ connection: SQLiteConnection) throws -> UInt64 {
        let first = try connection.queryInteger("SELECT min(position) FROM events") ?? 1
        let last = try connection.queryInteger("SELECT max(position) FROM events") ?? 0
        guard first >= 1, last < Int64.max else {
            throw EventStoreError(
                .corruptDatabase,
                message: "the events table holds positions from \(first) to \(last); the store writes them from 1 on")
        }
        return UInt64(last)
    }

    /// Opens and configures one connection.
    static func openConnection(_ path: String, _ configuration: Configuration, role: ConnectionRole)
        throws(SQLiteError) -> SQLiteConnection
    {
        let gathers = role == .writer && configuration.gathersWALWrites && SQLiteGatheringVFS.isRegistered
        let connection = try SQLiteConnection(
            path: path,
            busyTimeoutMilliseconds: configuration.busyTimeout.clampedMilliseconds,
            vfs: gathers ? SQLiteGatheringVFS.name : nil
        )
        let synchronous = configuration.durability == .full ? "FULL" : "NORMAL"
        let cacheKiB = max(1, (role == .writer ? configuration.pageCacheBytes : configuration.pageCacheBytes / 4) / 1024)
        if role == .writer {
            // The page size only takes effect on a new, empty database; WAL mode is persistent in the file.
            try connection.execute("PRAGMA page_size = \(configuration.pageSize)")
            // Another process may be recovering the WAL after a crash; SQLite then answers SQLITE_BUSY without
            // calling the busy handler, so wait here as the busy timeout would.
            let mode = try retryingWhileBusy(for: configuration.busyTimeout) {
                () throws(SQLiteError) in try connection.queryTexts("PRAGMA journal_mode = WAL")
            }
            guard mode == ["wal"] else {
                throw SQLiteError(
                    code: SQLITE_READONLY,
                    systemErrno: 0,
                    message: "cannot switch the database to WAL mode (journal mode is \(mode))",
                    sql: nil
                )
            }
        }
        try connection.execute(
            """
            PRAGMA synchronous = \(synchronous);
            PRAGMA cache_size = -\(cacheKiB);
            PRAGMA mmap_size = \(configuration.memoryMapBytes);
            PRAGMA temp_store = MEMORY;
            """
        )
        if role == .writer {
            // When the writer starts the WAL over (see SQLiteWriter.installWALHook), the file is cut back to the
            // size bound, or without one to the size the checkpoint threshold allows, instead of keeping its largest
            // size. Not to the threshold under a bound: the WAL starts over between the two, and cutting it each
            // time costs the writer a truncation and the file system the blocks allocated again.
            var limit = configuration.checkpointPages.multipliedReportingOverflow(by: configuration.pageSize)
                .partialValue
            if configuration.checkpointPages > Int.max / configuration.pageSize { limit = .max }
            if configuration.maximumWALBytes > 0 { limit = configuration.maximumWALBytes }
            try connection.execute("PRAGMA journal_size_limit = \(limit)")
        }
        if role == .reader {
            try connection.execute("PRAGMA query_only = ON")
        }
        return connection
    }

    /// Validates an append before it is queued, so that nothing invalid reaches the writer.
    func validate(_ events: [EventData], streamID: StreamID) throws(EventStoreError) {
        try EventStoreValidation.validateAppend(
            events, to: streamID, maximumPayloadBytes: configuration.maximumPayloadBytes)
    }

    static func validate(limit: Int) throws(EventStoreError) {
        try EventStoreValidation.validateReadLimit(limit)
    }

    static func validateConsumer(_ consumer: String) throws(EventStoreError) {
        try EventStoreValidation.validateConsumer(consumer)
    }
}

extension SQLiteEventStore {
    /// Runs every inline projection's schema statements in one transaction.
    static func createInlineProjectionSchemas(
        _ projections: [any SQLiteInlineProjection],
        on connection: SQLiteConnection
    ) throws(SQLiteError) {
        guard !projections.isEmpty else { return }
        try connection.execute("BEGIN IMMEDIATE")
        do {
            for projection in projections {
                for statement in projection.schema { try connection.execute(statement) }
            }
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}

/// Runs `body`, running it again while it fails with `SQLITE_BUSY`, for at most `timeout` (then the last error).
func retryingWhileBusy<Result>(for timeout: Duration, _ body: () throws(SQLiteError) -> Result) throws(SQLiteError)
    -> Result
{
    let deadline = ContinuousClock.now + timeout.asTimeLimit
    var pause: UInt32 = 1_000
    while true {
        do {
            return try body()
        } catch where error.primaryCode == SQLITE_BUSY && ContinuousClock.now < deadline {
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
    }
}
