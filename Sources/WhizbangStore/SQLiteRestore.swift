import CWhizbangSQLite
import Foundation
import Synchronization
import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of ``SQLiteEventStore/restore(_:checkpoints:to:configuration:replacingStoreMarkedBy:progress:)``, on a
/// thread of its own.
///
/// The store is built under a temporary name beside the target, `.<name>.restoring-<8 hex digits>`: created with
/// `O_EXCL`, so this run knows the file is its own; marked as a store in a first transaction; filled in a second one;
/// its WAL copied back and removed; fsynced; then given the target's name with `link` (which never replaces a file)
/// and the directory fsynced. Until that link the target's name holds nothing, however the process ends; a failure
/// removes the temporary files. A process killed after the first commit (which creates the schema and records the
/// temporary name in the store's mark) leaves a store that
/// ``SQLiteEventStore/removeAbandonedRestores(for:leftAlone:)`` removes later; one killed before it leaves a file without tables that nothing proves is a restore's, and that stays.
struct SQLiteRestore {
    /// The part of a temporary name between the target's name and the random suffix.
    static let temporaryInfix = ".restoring-"
    /// How many events go between two calls of `progress`.
    static let progressInterval = 4096

    let events: [RecordedEvent]
    let checkpoints: [String: UInt64]
    let path: String
    /// The consumer whose checkpoint marks a store at `path` that this restore may replace; `nil` replaces nothing.
    let marker: String?
    let configuration: SQLiteEventStore.Configuration
    let progress: @Sendable (Int) -> Bool
    let stop: StopRequest
    /// Test seam: when set, the restore acts as on a file system without hard links (`link` fails with `ENOTSUP`)
    /// and calls this just before the rename that then names the store (where tests put a file at `path`).
    var withoutHardLinks: (@Sendable () -> Void)? = nil

    /// Set when the caller's task is cancelled; read by the restoring thread.
    final class StopRequest: Sendable {
        private let isRequested = Atomic<Bool>(false)

        func request() { isRequested.store(true, ordering: .relaxed) }
        var wasRequested: Bool { isRequested.load(ordering: .relaxed) }
    }

    /// The temporary name for a target: `.<name>.restoring-<8 hex digits>` in the target's directory, the name
    /// shortened as ``temporaryPrefix(for:)`` says when it is long.
    static func temporaryPath(for path: String) -> String {
        let parts = PathParts(path)
        let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
        let padded = String(repeating: "0", count: 8 - suffix.count) + suffix
        return parts.sibling(temporaryPrefix(for: parts.name) + padded)
    }

    /// The temporary names' text before their 8 hex digits, for the target file name `target`:
    /// `.<target>.restoring-`, short enough that SQLite can name its files after a temporary name as it can after
    /// the target (``SQLiteConnection/longestNewFileName``). A longer target keeps the first bytes that fit (whole
    /// characters), then `~` and 8 hex digits of a hash of the whole name, so that two long names that start alike
    /// are not taken for each other.
    static func temporaryPrefix(for target: String) -> String {
        let room = SQLiteConnection.longestNewFileName - 1 - temporaryInfix.utf8.count - 8
        guard target.utf8.count > room else { return ".\(target)\(temporaryInfix)" }
        var hash: UInt32 = 0x811C_9DC5
        for byte in target.utf8 { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        let digits = String(hash, radix: 16)
        let tag = "~" + String(repeating: "0", count: 8 - digits.count) + digits
        var kept = ""
        for character in target {
            guard kept.utf8.count + String(character).utf8.count + tag.utf8.count <= room else { break }
            kept.append(character)
        }
        return ".\(kept)\(tag)\(temporaryInfix)"
    }

    /// Whether `name` is a temporary name that a restore to `target` (a file name, not a path) would use.
    static func isTemporaryName(_ name: String, for target: String) -> Bool {
        let prefix = temporaryPrefix(for: target)
        guard name.utf8.starts(with: prefix.utf8) else { return false }
        let suffix = name.utf8.dropFirst(prefix.utf8.count)
        return suffix.count == 8
            && suffix.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
    }

    /// Builds the store and puts it at `path`; returns the number of events written.
    func run() throws -> Int {
        let versions = try EventStoreValidation.validateRestore(
            events, maximumPayloadBytes: configuration.maximumPayloadBytes)
        for (consumer, position) in checkpoints {
            try EventStoreValidation.validateCheckpoint(position, for: consumer)
        }
        // The store is made under a temporary name that fits (``temporaryPrefix(for:)``), and named `path` in WAL mode.
        try SQLiteConnection.refuseLongFileName(path, new: false)
        // A rollback journal beside a store to replace would be rolled back into it by the hold that replaces it.
        try SQLiteConnection.refuseStrayJournal(of: path, waitingUpTo: configuration.busyTimeout)
        let found = SQLiteEventStore.inspectFile(at: path)
        let replacing = found.exists
        if let marker {
            try EventStoreValidation.validateConsumer(marker)
        }
        if replacing {
            guard let marker else {
                throw EventStoreError(
                    .invalidArgument,
                    message: "\(path) already exists (it is \(found.description)); a restore writes only a new store")
            }
            // Checked before the work, so that a store it may not replace is refused at once; checked again under the
            // exclusive hold before it is replaced.
            try Self.checkReplaceable(path, found: found, marker: marker)
        } else {
            try SQLiteConnection.refuseStrayCompanions(of: path, waitingUpTo: configuration.busyTimeout)
        }
        let temporary = Self.temporaryPath(for: path)
        let descriptor = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Self.fileError(errno, "cannot create \(temporary)") }
        // Held until the file has its final name, and released after the last connection closed (see `FileLock`).
        guard let lock = FileLock(descriptor: descriptor) else {
            let number = errno
            unlink(temporary)
            throw Self.fileError(number, "cannot lock \(temporary)")
        }
        defer { lock.release() }
        Self.inProgress.withLock { _ = $0.insert(temporary) }
        defer { Self.inProgress.withLock { _ = $0.remove(temporary) } }
        var connection: SQLiteConnection?
        do {
            let opened = try SQLiteEventStore.openConnection(temporary, configuration, role: .writer)
            connection = opened
            try SQLiteSchema.migrate(opened, nowMicroseconds: SQLiteEventStore.nowMicroseconds()) { connection in
                try markRestored(temporary, on: connection)
            }
            let count = try write(versions, on: opened)
            // Copy the WAL back into the file and empty it, so that the file alone holds the store; closing the last
            // connection then removes the WAL and shared-memory files.
            try opened.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            opened.close()
            connection = nil
            for companion in [temporary + "-wal", temporary + "-shm"] { unlink(companion) }
            try Self.synchronize(temporary)
            if let marker, replacing {
                try replace(path, with: temporary, marker: marker)
            } else {
                try place(temporary)
            }
            // The name is durable once the directory is; the store is complete and in place either way.
            let directory = open(PathParts(path).directory, O_RDONLY | O_CLOEXEC)
            if directory >= 0 {
                _ = fsync(directory)
                _ = close(directory)
            }
            return count
        } catch {
            connection?.close()
            // This run created these files (the database with O_EXCL, its companions through SQLite).
            for file in [temporary + "-wal", temporary + "-shm", temporary] { unlink(file) }
            switch error {
            case let error as SQLiteError: throw error.eventStoreError
            default: throw error
            }
        }
    }

    /// Records in the store's mark, in the transaction that creates the schema, the temporary name this restore
    /// created the file under: ``SQLiteEventStore/removeAbandonedRestores(for:leftAlone:)`` removes a leftover only
    /// when its name is that one.
    private func markRestored(_ temporary: String, on connection: SQLiteConnection) throws {
        let insert = try connection.prepare(
            "INSERT INTO \(SQLiteSchema.markTable) (key, value) VALUES ('\(Self.restoredAsKey)', ?1)")
        insert.bind(URL(fileURLWithPath: temporary).lastPathComponent, at: 1)
        try insert.execute()
    }

    /// Whether the store at `path` was created by a restore under the file name `name` (see ``markRestored``).
    static func wasRestored(_ path: String, as name: String) -> Bool {
        guard let connection = try? SQLiteConnection.forInspection(path: path) else { return false }
        defer { connection.close() }
        let values = try? connection.queryTexts(
            "SELECT value FROM \(SQLiteSchema.markTable) WHERE key = '\(restoredAsKey)'")
        return values == [name]
    }

    /// The temporary files of the restores at work in this process.
    private static let inProgress = Mutex<Set<String>>([])

    /// Whether a restore of this process is building the store at the temporary path `path`.
    static func isInProgress(_ path: String) -> Bool {
        inProgress.withLock { $0.contains(path) }
    }

    /// The key of the mark row that names the temporary file a restore created.
    static let restoredAsKey = "restored_as"

    /// Writes the streams at their final versions, the events and the checkpoints in one transaction.
    private func write(_ versions: [StreamID: UInt64], on connection: SQLiteConnection) throws -> Int {
        let insertStream = try connection.prepare("INSERT INTO streams (stream_id, version) VALUES (?1, ?2)")
        let insertEvent = try connection.prepare(
            """
            INSERT INTO events
                (position, stream_key, version, event_id, event_type, data, metadata, recorded_at, schema_version)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
            """
        )
        let insertCheckpoint = try connection.prepare("INSERT INTO checkpoints (consumer, position) VALUES (?1, ?2)")
        try connection.execute("BEGIN IMMEDIATE")
        do {
            var keys: [StreamID: Int64] = [:]
            keys.reserveCapacity(versions.count)
            for (index, event) in events.enumerated() {
                if index % Self.progressInterval == 0 { try checkStop(written: index) }
                let key: Int64
                if let known = keys[event.streamID] {
                    key = known
                } else {
                    insertStream.bind(event.streamID.rawValue, at: 1)
                    insertStream.bind(versions[event.streamID] ?? 0, at: 2)
                    try insertStream.execute()
                    key = connection.lastInsertRowID
                    keys[event.streamID] = key
                }
                try insert(event, key: key, with: insertEvent)
            }
            for (consumer, position) in checkpoints.sorted(by: { $0.key < $1.key }) {
                insertCheckpoint.bind(consumer, at: 1)
                insertCheckpoint.bind(position, at: 2)
                try insertCheckpoint.execute()
            }
            try checkStop(written: events.count)
            try connection.execute("COMMIT")
        } catch {
            if connection.isInTransaction { try? connection.execute("ROLLBACK") }
            throw error
        }
        return events.count
    }

    /// Inserts one event at its own position, version and recording time.
    private func insert(_ event: RecordedEvent, key: Int64, with statement: SQLiteStatement) throws {
        guard let recordedAt = Int64(exactly: (event.recordedAt.timeIntervalSince1970 * 1_000_000).rounded()) else {
            throw EventStoreError(
                .invalidArgument, streamID: event.streamID,
                message: "event \(event.eventID) has a recording time that is not a whole number of microseconds")
        }
        var eventType = event.eventType
        let error: SQLiteError? = event.data.withUnsafeBytes { data in
            event.metadata.withUnsafeBytes { metadata in
                eventType.withUTF8 { type in
                    statement.bind(event.position, at: 1)
                    statement.bind(key, at: 2)
                    statement.bind(event.streamVersion, at: 3)
                    statement.bind(event.eventID, at: 4)
                    statement.bindBorrowedText(type, at: 5)
                    statement.bindBorrowedPayload(data, at: 6)
                    statement.bindBorrowedPayload(metadata, at: 7, nullIfEmpty: true)
                    statement.bind(recordedAt, at: 8)
                    statement.bind(Int64(event.schemaVersion), at: 9)
                    return statement.executeReturningError()
                }
            }
        }
        if let error {
            if error.isUniqueViolation { throw AppendDecision.duplicateEventID(event.eventID, appendingTo: event.streamID) }
            throw error
        }
    }

    /// Reports progress, and stops with `CancellationError` when the caller asked to.
    private func checkStop(written: Int) throws {
        if stop.wasRequested || !progress(written) { throw CancellationError() }
    }

    /// Gives the finished temporary file the target's name, never replacing what may have appeared there: with
    /// `link`, or, on a file system without hard links (vfat, exFAT), with a rename that fails rather than replace a
    /// file (`renameat2` with `RENAME_NOREPLACE`, `renamex_np` with `RENAME_EXCL`). Where the file system has neither,
    /// the store is not put in place: a plain rename would replace a file created after any check.
    private func place(_ temporary: String) throws {
        if withoutHardLinks == nil, link(temporary, path) == 0 {
            unlink(temporary)
            return
        }
        var number = withoutHardLinks == nil ? errno : ENOTSUP
        if number == EPERM || number == ENOTSUP || number == EOPNOTSUPP {
            withoutHardLinks?()
            guard whizbang_rename_noreplace(temporary, path) != 0 else { return }
            number = errno
            if number == EINVAL || number == ENOSYS || number == ENOTSUP || number == EOPNOTSUPP {
                throw EventStoreError(
                    .storageFailure,
                    message: "the file system of \(path) has neither hard links nor a rename that never replaces a "
                        + "file, so the restored store cannot be given its name safely; nothing was put there")
            }
        }
        guard number != EEXIST else {
            throw EventStoreError(
                .invalidArgument, message: "\(path) appeared while the store was restored; it was left alone")
        }
        throw Self.fileError(number, "cannot name the restored store \(path)")
    }

    /// Refuses a `path` that a restore with `marker` may not replace: anything but a store this library created (a
    /// symbolic link to one too), a store without a checkpoint of `marker`, and a store whose file holds tables,
    /// views, triggers, indexes or columns that the store did not create (``SQLiteSchema/objectsNotCreated(on:)``).
    private static func checkReplaceable(_ path: String, found: SQLiteStoreFile, marker: String)
        throws(EventStoreError)
    {
        guard !SQLiteEventStore.isSymbolicLink(path) else {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a symbolic link; a restore replaces only a store itself, and left it alone")
        }
        guard found.isWhizbangStore else {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is \(found.description), not a store this library created; the restore left it alone")
        }
        guard try SQLiteEventStore.checkpoint(for: marker, inStoreAt: path) != nil else {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a store without the mark '\(marker)' (a checkpoint of that consumer); the restore "
                    + "left it alone")
        }
        let others: [String]
        do {
            let connection = try SQLiteConnection.forInspection(path: path)
            defer { connection.close() }
            others = try SQLiteSchema.objectsNotCreated(on: connection)
        } catch {
            throw unknownSchemaRefusal(path, error)
        }
        guard others.isEmpty else { throw holdsOthers(path, others) }
    }

    /// `error`, thrown while the objects of the store at `path` were listed, as the restore reports it: a newer
    /// schema (`EventStoreError/Code/incompatibleSchema`) becomes the refusal of a store the restore may not replace
    /// (`EventStoreError/Code/invalidArgument`), whether it is found before the work or under the exclusive hold.
    private static func unknownSchemaRefusal(_ path: String, _ error: any Error) -> EventStoreError {
        let error = EventStoreError.storing(error)
        // A newer schema's objects are not known here: nothing proves the file holds only the store's.
        guard error.code == .incompatibleSchema else { return error }
        return EventStoreError(
            .invalidArgument,
            message: "\(path) is a store whose schema this code does not know (\(error.message)), so it cannot tell "
                + "the store's tables from anyone else's; the restore left it alone")
    }

    /// The refusal of a store at `path` that holds `others`, objects the store did not create: replacing the file
    /// would take them with it.
    private static func holdsOthers(_ path: String, _ others: [String]) -> EventStoreError {
        EventStoreError(
            .invalidArgument,
            message: "\(path) holds what the store did not create (\(SQLiteSchema.listed(others))); a restore replaces "
                + "only a store that holds nothing else, and left it alone")
    }

    /// Puts the finished file `temporary` in the place of the store at `path`, under an exclusive hold of that store,
    /// after checking again that it is one this restore may replace (its mark, and nothing in it but the store's).
    ///
    /// The hold's connection copies the old store's WAL into its file and empties it (a checkpoint, as safe against a
    /// kill as any) once the checks pass, and keeps its WAL when it closes (`SQLITE_FCNTL_PERSIST_WAL`): a connection
    /// that removes its WAL on closing does so by name, which after the rename would be the new store's. Then the old
    /// WAL and shared-memory files go (a WAL left beside the new file would be read into it) and the new file is
    /// renamed over the old one, so that `path` names the old store or the new one at every moment. The old file's
    /// header is never changed (no rollback journal is made), and a failure before the rename leaves the old store
    /// with the same content; a WAL that was beside it before the hold is never checkpointed on closing, so a check
    /// that fails leaves that WAL and the file as they were (the WAL may be another database's).
    /// Where the store had no WAL before the hold, the WAL is the hold's own, and every exit short of the rename lets
    /// it go when the hold closes: none stays to make the next store at `path` refused once the old one is removed.
    private func replace(_ path: String, with temporary: String, marker: String) throws {
        var before = stat()
        guard lstat(path, &before) == 0 else {
            throw EventStoreError(.invalidArgument, message: "\(path) went away while the store was restored")
        }
        // The store's WAL and shared-memory files are regular files; anything else under their names (a FIFO, a
        // directory, a link) was put there by someone else, and is left alone: checked before SQLite opens them,
        // which would change an empty one's permissions.
        var hadWAL = false
        for companion in [path + "-wal", path + "-shm"] {
            var status = stat()
            let exists = lstat(companion, &status) == 0
            if companion.hasSuffix("-wal") { hadWAL = exists }
            guard !exists || status.st_mode & S_IFMT == S_IFREG else {
                throw EventStoreError(
                    .invalidArgument,
                    message: "\(companion) is not a regular file, so not the store's; the restore left it and \(path) "
                        + "alone")
            }
        }
        // A WAL that was there before is read by the hold as the store's own, but nothing proves it is (SQLite's WAL
        // does not name its database): it may be another database's, copied in. So the hold leaves it as it is when
        // it closes, whatever fails, instead of checkpointing it into the file; the checkpoint below, once the store
        // is checked, is the only one. (Without one before, the WAL is the hold's own, and goes as after any
        // connection.)
        guard let hold = try SQLiteEventStore.exclusiveHold(path, leavingWALOnClose: hadWAL) else {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a store that another connection has open (in this process or another "
                    + "program); a store in use is never replaced, and the restore left it alone")
        }
        defer { hold.close() }
        try hold.keepWALOnClose()
        // Without a WAL before the hold, the WAL is the hold's own, made when it opened the file: every exit short of
        // the rename (a refusal, a failed checkpoint or unlink) lets it go when the hold closes, as after any
        // connection. (Runs before the close above.)
        var renamed = false
        defer { if !hadWAL && !renamed { try? hold.keepWALOnClose(false) } }
        // Without the tables (no such table, SQLITE_ERROR), the file read with that WAL is not the store checked.
        let isMarked = try Self.isMarked(on: hold, marker: marker, missingTablesAreUnmarked: hadWAL)
        var after = stat()
        guard isMarked, lstat(path, &after) == 0,
            after.st_ino == before.st_ino, after.st_dev == before.st_dev, after.st_mode & S_IFMT == S_IFREG
        else {
            guard hadWAL else {
                throw EventStoreError(
                    .invalidArgument,
                    message: "\(path) changed while the store was restored; the restore left it alone")
            }
            throw EventStoreError(
                .invalidArgument,
                message: "\(path), read with the WAL beside it, is not the store that was checked: \(path)-wal may be "
                    + "another database's, copied in, or the store changed meanwhile; the restore left both alone")
        }
        // Checked again under the hold: what someone added since the first check would go with the old file too.
        let others: [String]
        do {
            others = try SQLiteSchema.objectsNotCreated(on: hold)
        } catch {
            // Newer code may have migrated the store meanwhile: refused as the first check refuses it.
            throw Self.unknownSchemaRefusal(path, error)
        }
        guard others.isEmpty else { throw Self.holdsOthers(path, others) }
        try hold.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        // The old store's file now holds every commit, and is synced; its WAL is empty.
        for companion in [path + "-wal", path + "-shm"] where unlink(companion) != 0 && errno != ENOENT {
            throw Self.fileError(errno, "cannot remove \(companion)")
        }
        guard rename(temporary, path) == 0 else { throw Self.fileError(errno, "cannot replace \(path)") }
        renamed = true
    }

    /// Whether the store on `connection` holds a checkpoint of `marker` and the mark of a store this library
    /// created; with `missingTablesAreUnmarked`, `false` too when a table is missing (`SQLITE_ERROR`).
    private static func isMarked(on connection: SQLiteConnection, marker: String, missingTablesAreUnmarked: Bool)
        throws(SQLiteError) -> Bool
    {
        do throws(SQLiteError) {
            let select = try connection.prepare("SELECT 1 FROM checkpoints WHERE consumer = ?1")
            select.bind(marker, at: 1)
            let marked = try select.step()
            select.reset()
            let creator = try connection.queryTexts(
                "SELECT value FROM \(SQLiteSchema.markTable) WHERE key = 'created_by'")
            return marked && creator == [SQLiteSchema.markCreator]
        } catch where missingTablesAreUnmarked && error.primaryCode == SQLITE_ERROR {
            return false
        }
    }

    /// fsync of a file.
    private static func synchronize(_ path: String) throws(EventStoreError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw fileError(errno, "cannot open \(path)") }
        defer { _ = close(descriptor) }
        guard fsync(descriptor) == 0 else { throw fileError(errno, "cannot fsync \(path)") }
    }

    /// The store error for `number`, the `errno` of a failed file operation, read right after it (before anything
    /// else, such as building `what`, can change it).
    private static func fileError(_ number: Int32, _ what: String) -> EventStoreError {
        let message = "\(what): \(String(cString: strerror(number)))"
        switch number {
        case EACCES, EROFS, EPERM: return EventStoreError(.readOnly, message: message)
        case ENOSPC, EDQUOT, EFBIG: return EventStoreError(.storageFull, message: message)
        default: return EventStoreError(.storageFailure, message: message)
        }
    }
}
