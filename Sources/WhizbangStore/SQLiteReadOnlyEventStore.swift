import CWhizbangSQLite
import Foundation
import Synchronization
public import Whizbang

/// An existing SQLite event store opened for reading only (SQLite's `mode=ro`): the file is never written, so it
/// works on a file, or in a directory, that the process may not write. A WAL-mode store on a read-only file system
/// with no WAL beside it (a cleanly closed store on a read-only mount, a backup) is read as immutable, since SQLite
/// could not make the shared-memory file it would otherwise need.
///
/// Reads behave as on ``SQLiteEventStore``; every write fails with `EventStoreError/Code/readOnly`, and so does
/// ``waitForEvents(after:)`` when no event is past the position (nothing here would ever announce one). The schema
/// is not migrated: a database of an older schema version than this code writes is read as it is, one of a newer
/// version is refused.
///
/// Opening a WAL-mode store that has no WAL or shared-memory file beside it makes both, and SQLite leaves them when
/// read-only connections close; ``close()`` removes them when no connection has the database open and the WAL is
/// empty, so that the directory is left as it was found. Files that were there at the open are never removed. A
/// process that may not write the database cannot take the lock under which they are removed, and leaves them: its
/// own files, which a store of the database's owner then refuses to open beside, naming them (unless it runs as
/// root).
public final class SQLiteReadOnlyEventStore: EventStore {
    /// The database file.
    public let path: String

    private let readers: SQLiteReaderPool
    /// The WAL and shared-memory files the open made, until ``close()`` has looked at them.
    private let madeCompanions: Mutex<SQLiteMadeCompanions?>

    /// Opens the store at `path` for reading, on a thread of its own so that the caller's task does not block the
    /// cooperative thread pool.
    ///
    /// - Throws: `EventStoreError` — `notADatabase`, `corruptDatabase`, `incompatibleSchema` (not a Whizbang store,
    ///   or one of a newer schema), `invalidArgument` (a rollback journal beside the file, which is not the
    ///   store's), `storageFailure` (no file at `path`, or one SQLite cannot open).
    public static func open(
        path: String,
        configuration: SQLiteEventStore.Configuration = SQLiteEventStore.Configuration()
    ) async throws -> SQLiteReadOnlyEventStore {
        try await withUnsafeThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try SQLiteReadOnlyEventStore(path: path, configuration: configuration))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "whizbang.sqlite.open"
            thread.start()
        }
    }

    private init(path: String, configuration: SQLiteEventStore.Configuration) throws(EventStoreError) {
        self.path = path
        // A reader that meets a rollback journal fails with "attempt to write a readonly database", which names the
        // wrong cause; refused here, before any connection, with the right one.
        try SQLiteConnection.refuseStrayJournal(of: path, waitingUpTo: configuration.busyTimeout)
        // SQLite follows links to the database and keeps its WAL and shared-memory files beside the file linked to.
        let database = SQLiteMadeCompanions.resolved(path)
        let companionsWereAbsent = SQLiteMadeCompanions.noneBeside(database)
        do {
            do {
                readers = SQLiteReaderPool(readers: try Self.readers(path: path, configuration, immutable: false))
            } catch where Self.isOnStorageItCannotWrite(database, error) {
                readers = SQLiteReaderPool(readers: try Self.readers(path: path, configuration, immutable: true))
            }
        } catch {
            // The connections opened before the failure are closed by now; a read they made (the schema's check)
            // made the files all the same.
            if companionsWereAbsent { SQLiteMadeCompanions(madeBeside: database)?.removeIfUnused() }
            if let refusal = Self.unreadableWAL(database, path: path, error) { throw refusal }
            throw EventStoreError.storing(error)
        }
        madeCompanions = Mutex(companionsWereAbsent ? SQLiteMadeCompanions(madeBeside: database) : nil)
        readers.start()
    }

    /// Whether opening the store at `path` failed only because it lies on a read-only file system (a read-only
    /// mount, a backup medium): SQLite could not open or make the shared-memory file a WAL-mode database needs, and no
    /// WAL or shared-memory file is beside it. Then no WAL-mode connection has the file open, and none could start
    /// writing it there, so it is read as immutable. (A directory that only this process may not write is not
    /// enough: its owner could start writing meanwhile, and an immutable read takes no lock.)
    ///
    /// `database` is the path with its links resolved: the WAL and shared-memory files are beside that file.
    private static func isOnStorageItCannotWrite(_ database: String, _ error: any Error) -> Bool {
        var status = stat()
        return failedForWantOfSharedMemory(error) && lstat(database + "-wal", &status) != 0
            && lstat(database + "-shm", &status) != 0 && isOnReadOnlyFileSystem(database)
    }

    /// The refusal of a store on a read-only file system with a WAL but no shared-memory file beside it (a copy of a
    /// database and its WAL, made without the third file): SQLite reads a WAL only through that file, which it cannot
    /// make there, so the WAL's commits cannot be read, and reading the database without them would give an older
    /// log as if it were the whole. SQLite's own words for it ("unable to open database file") name none of this.
    private static func unreadableWAL(_ database: String, path: String, _ error: any Error) -> EventStoreError? {
        var status = stat()
        guard failedForWantOfSharedMemory(error), lstat(database + "-wal", &status) == 0,
            lstat(database + "-shm", &status) != 0, isOnReadOnlyFileSystem(database)
        else { return nil }
        return EventStoreError(
            .readOnly,
            message: """
                the store at '\(path)' is on read-only storage with a WAL file ('\(database)-wal') but no \
                shared-memory file ('\(database)-shm') beside it: SQLite reads a WAL only through that file, and \
                cannot make it there. Copy the database and its WAL to storage it may write, and open the copy
                """,
            underlyingError: error as? SQLiteError ?? (error as? EventStoreError)?.underlyingError)
    }

    /// Whether SQLite failed to open or make a WAL-mode database's shared-memory file: a read-only mount fails its
    /// open (CANTOPEN), a directory the process may not write fails its creation (READONLY_DIRECTORY, or
    /// READONLY_CANTINIT).
    private static func failedForWantOfSharedMemory(_ error: any Error) -> Bool {
        let failure = error as? SQLiteError ?? (error as? EventStoreError)?.underlyingError as? SQLiteError
        // (SQLITE_READONLY_DIRECTORY and SQLITE_READONLY_CANTINIT are macros Swift does not import.)
        let readOnlyDirectory = SQLITE_READONLY | (6 << 8)
        let readOnlyCannotInitialize = SQLITE_READONLY | (5 << 8)
        guard let failure else { return false }
        return failure.primaryCode == SQLITE_CANTOPEN || failure.code == readOnlyDirectory
            || failure.code == readOnlyCannotInitialize
    }

    /// Whether the file system that holds `database` is mounted read-only.
    private static func isOnReadOnlyFileSystem(_ database: String) -> Bool {
        var fileSystem = statvfs()
        return statvfs(database, &fileSystem) == 0 && fileSystem.f_flag & UInt(ST_RDONLY) != 0
    }

    /// The store's reader connections, the schema checked on the first.
    private static func readers(
        path: String, _ configuration: SQLiteEventStore.Configuration, immutable: Bool
    ) throws -> [SQLiteReader] {
        var readers: [SQLiteReader] = []
        var schemaVersion: Int64 = SQLiteSchema.currentVersion
        for index in 0..<max(1, configuration.readerCount) {
            let connection = try SQLiteConnection(
                path: path, busyTimeoutMilliseconds: configuration.busyTimeout.clampedMilliseconds, readOnly: true,
                immutable: immutable)
            if index == 0 { schemaVersion = try checkSchema(connection) }
            let cacheKiB = max(1, configuration.pageCacheBytes / 4 / 1024)
            try connection.execute(
                """
                PRAGMA cache_size = -\(cacheKiB);
                PRAGMA mmap_size = \(configuration.memoryMapBytes);
                PRAGMA temp_store = MEMORY;
                """
            )
            readers.append(
                try SQLiteReader(
                    connection: connection,
                    hasSchemaVersionColumn: schemaVersion >= SQLiteSchema.eventSchemaVersionColumnSince))
        }
        return readers
    }

    deinit {
        close()
    }

    /// Refuses a database that is not a Whizbang store, or whose schema is newer than this code's; returns its schema
    /// version.
    private static func checkSchema(_ connection: SQLiteConnection) throws -> Int64 {
        guard let version = try SQLiteSchema.version(of: connection), version >= 1 else {
            throw EventStoreError(.incompatibleSchema, message: "the database holds no Whizbang store")
        }
        return version
    }

    /// Closes every connection, once the reads under way have finished; later calls fail with
    /// `EventStoreError/Code/closed`. A call while another closes the store waits for it too. Called from a reader's
    /// thread (a reduction's code), it refuses later reads and returns without waiting for the readers to stop.
    ///
    /// Once the connections are closed, the WAL and shared-memory files that the open made beside the database are
    /// removed if the WAL is empty and no other connection, in this process or another, has the database open (see
    /// the type's overview); a close from a reader's thread leaves them.
    public func close() {
        if readers.isCurrentThread {
            readers.beginClose()
        } else {
            readers.close()
            madeCompanions.withLock { $0.take() }?.removeIfUnused()
        }
    }

    private func refuseWrite() -> EventStoreError {
        EventStoreError(.readOnly, message: "the store at \(path) is open for reading only")
    }

    /// Fails with `EventStoreError/Code/readOnly`: the store is open for reading only.
    public func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        throw refuseWrite()
    }

    /// Fails with `EventStoreError/Code/readOnly`: the store is open for reading only.
    public func saveCheckpoint(_ position: UInt64, for consumer: String) async throws {
        throw refuseWrite()
    }

    /// Fails with `EventStoreError/Code/readOnly`: the store is open for reading only.
    public func saveSnapshot(_ snapshot: Snapshot) async throws {
        throw refuseWrite()
    }

    /// Reads up to `limit` events of one stream; see `EventStore/readStream(_:from:direction:limit:)`.
    public func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int)
        async throws -> [RecordedEvent]
    {
        try streamID.validate()
        try SQLiteEventStore.validate(limit: limit)
        return try await readers.read { reader throws(SQLiteError) in
            try reader.readStream(streamID, from: version, direction: direction, limit: limit)
        }
    }

    /// Reads up to `limit` events of the global log after `position`; see `EventStore/readAll(after:limit:)`.
    public func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try SQLiteEventStore.validate(limit: limit)
        return try await readers.read { reader throws(SQLiteError) in try reader.readAll(after: position, limit: limit) }
    }

    /// Reads up to `limit` events of the global log after `position`, as `EventStore/readAll(after:limit:)` does,
    /// optionally without their metadata.
    ///
    /// With `includingMetadata` false every returned event's `metadata` is empty and the column is never copied
    /// out of the database: a consumer that needs only the events themselves (a replay that folds their data)
    /// saves a copy and an allocation per event. Every other property, the order and the limit are exactly those
    /// of `readAll(after:limit:)`; with `includingMetadata` true the result is the same as that method's.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, or a storage failure.
    public func readAll(after position: UInt64, limit: Int, includingMetadata: Bool) async throws -> [RecordedEvent] {
        try SQLiteEventStore.validate(limit: limit)
        return try await readers.read { reader throws(SQLiteError) in
            try reader.readAll(after: position, limit: limit, includingMetadata: includingMetadata)
        }
    }

    /// Folds up to `limit` events of the global log after `position` into a state, lending each row to `update`
    /// instead of copying it into a `RecordedEvent`.
    ///
    /// `update` sees the rows `readAll(after:limit:)` returns, in the same order, each as an ``SQLiteEventRow`` that
    /// is valid only during that call: a consumer that folds the log (a replay, a projection rebuild) reads the
    /// columns it needs in place and saves the allocations and copies of a `RecordedEvent` per event. `update` runs
    /// on one of the store's reader threads, which it holds for the whole read: keep it to computation, never wait
    /// in it.
    ///
    /// - Parameters:
    ///   - position: the position after which to start; 0 for the start of the log.
    ///   - limit: the largest number of rows to lend; 0 returns `initialState` unread.
    ///   - initialState: the state before the first row.
    ///   - update: folds one row into the state; an error it throws ends the read.
    /// - Returns: the state after the last row.
    /// - Throws: `EventStoreError` — `invalidArgument` for a negative limit, `closed`, or a storage failure —,
    ///   `CancellationError` when the task is cancelled, or the first error `update` throws, as it was thrown.
    public func reduceAll<State: Sendable>(
        after position: UInt64,
        limit: Int,
        into initialState: State,
        _ update: @escaping @Sendable (inout State, SQLiteEventRow) throws -> Void
    ) async throws -> State {
        try SQLiteEventStore.validate(limit: limit)
        return try await readers.reduceAll(after: position, limit: limit, into: initialState, update)
    }

    /// The position of the last event in the global log, or 0 if the store is empty.
    public func headPosition() async throws -> UInt64 {
        try await readers.read { reader throws(SQLiteError) in try reader.headPosition() }
    }

    /// The version of a stream: the number of events in it, 0 if it has none.
    public func streamVersion(of streamID: StreamID) async throws -> UInt64 {
        try streamID.validate()
        return try await readers.read { reader throws(SQLiteError) in try reader.streamVersion(of: streamID) }
    }

    /// The event stored under `eventID`, or `nil`; see `EventStore/event(withID:)`.
    public func event(withID eventID: MessageID) async throws -> RecordedEvent? {
        try await readers.read { reader throws(SQLiteError) in try reader.event(withID: eventID) }
    }

    /// Returns at once when the log has an event after `position`; otherwise fails with
    /// `EventStoreError/Code/readOnly`, since a read-only store is never told of new events.
    public func waitForEvents(after position: UInt64) async throws {
        guard try await headPosition() <= position else { return }
        throw EventStoreError(.readOnly, message: "the store at \(path) is open for reading only: it is not told of new events")
    }

    /// The position a consumer saved, or `nil` if it never saved one.
    public func checkpoint(for consumer: String) async throws -> UInt64? {
        try SQLiteEventStore.validateConsumer(consumer)
        return try await readers.read { reader throws(SQLiteError) in try reader.checkpoint(for: consumer) }
    }

    /// The latest snapshot of a stream, or `nil` if there is none.
    public func latestSnapshot(for streamID: StreamID) async throws -> Snapshot? {
        try streamID.validate()
        return try await readers.read { reader throws(SQLiteError) in try reader.latestSnapshot(for: streamID) }
    }

    /// Runs SQLite's `PRAGMA integrity_check` and returns the problems it reports (at most 100); empty when the
    /// database is sound.
    ///
    /// It finds damage that reads of the log can miss, such as an index that lacks a row of its table. It reads the
    /// whole file in one read transaction, so it takes time proportional to the database's size, and a writer's WAL
    /// cannot start over meanwhile; it writes nothing. Cancelling the calling task interrupts it.
    ///
    /// - Throws: `CancellationError` when the task is cancelled; `EventStoreError` — `closed` after ``close()``,
    ///   `corruptDatabase` when the damage stops the check itself, or another code for a failed read.
    public func integrityCheck() async throws -> [String] {
        try await readers.read { reader throws(SQLiteError) in try reader.integrityCheck() }
    }
}
