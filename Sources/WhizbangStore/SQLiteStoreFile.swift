import CWhizbangSQLite
import Foundation
public import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a path holds, seen by an SQLite event store: nothing, a store that this library created, or something else.
///
/// Get one with ``SQLiteEventStore/inspectFile(at:)``. A caller that wants to start over at a path removes the store
/// there with ``SQLiteEventStore/destroyStore(at:)`` only when ``isWhizbangStore`` is `true`, and otherwise leaves the
/// path alone, telling the user what ``description`` says was found. (Even then `destroyStore(at:)` refuses a store
/// whose file also holds tables, views, triggers, indexes or columns that the store did not create; its error names
/// them.)
public struct SQLiteStoreFile: Sendable, CustomStringConvertible {
    /// The kind of thing found at a path.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case absent, directory, otherFile, otherDatabase, unmarkedStore, store
        }

        fileprivate let base: Base

        /// Nothing exists at the path.
        public static let absent = Kind(base: .absent)
        /// A directory.
        public static let directory = Kind(base: .directory)
        /// A file that is not an SQLite database, or not a regular file (a symbolic link to nothing too), or one SQLite
        /// cannot read.
        public static let otherFile = Kind(base: .otherFile)
        /// An SQLite database that does not carry the store's `application_id`: another application's.
        public static let otherDatabase = Kind(base: .otherDatabase)
        /// A database with the store's `application_id` but without the table that marks a file the store created
        /// itself (a store made by an earlier version, or a file that only borrowed the id). It opens as a store,
        /// but is never removed.
        public static let unmarkedStore = Kind(base: .unmarkedStore)
        /// A store that this library created: both marks are present.
        public static let store = Kind(base: .store)

        public var description: String { base.rawValue }
    }

    /// The path inspected.
    public let path: String
    /// What is there.
    public let kind: Kind
    /// What is there, in words for a person: "a directory", "an SQLite database of another application
    /// (application_id 42)".
    public let description: String
    /// Whether the file has a write permission bit set and the process may write it and its directory (always
    /// `false` when nothing is there). A file whose owner marked it read-only counts as read-only even for a
    /// process, such as root's, that could write it anyway.
    public let isWritable: Bool

    /// Whether the path holds a store this library created, which ``SQLiteEventStore/destroyStore(at:)`` may remove
    /// (unless its file also holds what the store did not create).
    public var isWhizbangStore: Bool { kind == .store }

    /// Whether something exists at the path.
    public var exists: Bool { kind != .absent }
}

extension SQLiteEventStore {
    /// Looks at what `path` holds without changing it: the file is opened read-only, if at all.
    ///
    /// A path is a Whizbang store when the file is an SQLite database with the store's `PRAGMA application_id` and
    /// the `whizbang_store` table that the store writes in the transaction that creates its first tables. A rollback
    /// journal beside the file is never read here (the file alone is; it is not the store's, and every open of the
    /// store refuses it).
    public static func inspectFile(at path: String) -> SQLiteStoreFile {
        var status = stat()
        func found(_ kind: SQLiteStoreFile.Kind, _ description: String) -> SQLiteStoreFile {
            let directory = PathParts(path).directory
            let writable =
                kind != .absent && status.st_mode & 0o222 != 0 && access(path, W_OK) == 0
                && access(directory, W_OK) == 0
            return SQLiteStoreFile(path: path, kind: kind, description: description, isWritable: writable)
        }
        guard stat(path, &status) == 0 else {
            let number = errno
            // A symbolic link whose target is missing is something: writing a store there would go through the link.
            if number == ENOENT, isSymbolicLink(path) {
                return found(.otherFile, "a symbolic link to a file that does not exist")
            }
            return number == ENOENT
                ? found(.absent, "nothing") : found(.otherFile, "a path that cannot be read (\(String(cString: strerror(number))))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: return found(.directory, "a directory")
        case S_IFREG: break
        default: return found(.otherFile, "a special file, not a regular file")
        }
        // A store killed before its first checkpoint may keep everything in its WAL, with an empty main file.
        var walStatus = stat()
        if status.st_size == 0, stat(SQLiteMadeCompanions.resolved(path) + "-wal", &walStatus) != 0 {
            return found(.otherFile, "an empty file")
        }
        do {
            // What the file is: a journal beside it is left unread here, and refused by every open of the store.
            let connection = try SQLiteConnection.forInspection(path: path, ignoringStrayJournal: true)
            defer { connection.close() }
            let applicationID = try connection.queryInteger("PRAGMA application_id") ?? 0
            guard applicationID == SQLiteSchema.applicationID else {
                return found(.otherDatabase, "an SQLite database of another application (application_id \(applicationID))")
            }
            let hasMark =
                try connection.queryInteger(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '\(SQLiteSchema.markTable)'"
                ) == 1
            guard hasMark,
                try connection.queryTexts(
                    "SELECT value FROM \(SQLiteSchema.markTable) WHERE key = 'created_by'"
                ) == [SQLiteSchema.markCreator]
            else {
                return found(.unmarkedStore, "a Whizbang store without the mark of a store it created")
            }
            return found(.store, "a Whizbang store")
        } catch {
            if error.primaryCode == SQLITE_NOTADB {
                return found(.otherFile, "a file that is not an SQLite database")
            }
            return found(.otherFile, "a file SQLite cannot read (\(error.message))")
        }
    }

    /// The position `consumer` saved in the store at `path`, or `nil` if it saved none, read as ``inspectFile(at:)``
    /// reads: without opening the store, so that nothing is migrated or checkpointed. Without a WAL beside the file
    /// nothing is made beside it either; with one, SQLite may make the shared-memory file it reads the WAL through.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for an invalid consumer name or a rollback journal beside the
    ///   file (which is not the store's), `incompatibleSchema` for a database without the store's application id,
    ///   `notADatabase` or another code when SQLite cannot read the file or it has no checkpoints table.
    public static func checkpoint(for consumer: String, inStoreAt path: String) throws(EventStoreError) -> UInt64? {
        try validateConsumer(consumer)
        do {
            let connection = try SQLiteConnection.forInspection(path: path)
            defer { connection.close() }
            let applicationID = try connection.queryInteger("PRAGMA application_id") ?? 0
            guard applicationID == SQLiteSchema.applicationID else {
                throw EventStoreError(
                    .incompatibleSchema,
                    message: "the database belongs to another application (application_id \(applicationID))")
            }
            let select = try connection.prepare("SELECT position FROM checkpoints WHERE consumer = ?1")
            select.bind(consumer, at: 1)
            return try select.step() ? select.uint64(at: 0) : nil
        } catch {
            throw EventStoreError.storing(error)
        }
    }

    /// The bytes the database at `path` takes on disk: its main file and its WAL (0 for a file that is missing).
    /// Through a symbolic link, the WAL is the one beside the file linked to, where SQLite keeps it.
    public static func fileSizes(at path: String) -> (database: Int, wal: Int) {
        var status = stat()
        let database = stat(path, &status) == 0 ? Int(status.st_size) : 0
        let wal = stat(SQLiteMadeCompanions.resolved(path) + "-wal", &status) == 0 ? Int(status.st_size) : 0
        return (database, wal)
    }

    /// Removes the store at `path` — the database and the WAL and shared-memory files SQLite keeps beside it, and
    /// nothing else — after proving with ``inspectFile(at:)`` that the store created it, and that the file holds
    /// nothing the store did not create.
    ///
    /// A store that a connection has open, in this process or another, is not removed: close every store on the file
    /// first. Nor is a symbolic link, or what it names.
    ///
    /// Nor is a store whose file holds tables, views, triggers, indexes or columns that the store did not make
    /// (someone's own data, added to the file with SQLite): the whole file would go, and that data with it. Such a store
    /// is refused, naming what was found, and checked again under the exclusive hold taken to remove it, so that what
    /// was added after the first look is found too. A store of a newer schema version than this code knows is refused
    /// as well: its objects cannot be told from anyone else's. The store's own objects are no reason to refuse: those
    /// of its read models, those of an older schema version, and SQLite's own (`sqlite_stat1` after `ANALYZE`).
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` when the path is a symbolic link, holds anything but a store
    ///   this library created, holds one whose file also holds what the store did not create (the message names it,
    ///   and the store's files, its WAL and shared-memory file too, are left as they were) or one of a newer schema
    ///   version, holds one that a connection has open, or has a rollback journal beside it (nothing is removed
    ///   then; the message says what was found); `EventStoreError/Code/readOnly` or
    ///   `EventStoreError/Code/storageFailure` when a file cannot be locked or removed.
    public static func destroyStore(at path: String) throws(EventStoreError) {
        try destroyStore(at: path, afterInspection: {})
    }

    /// ``destroyStore(at:)``, running `afterInspection` between the inspection and the hold (where tests put
    /// another file in place, or add a table to the store).
    static func destroyStore(at path: String, afterInspection: () -> Void) throws(EventStoreError) {
        var before = stat()
        if lstat(path, &before) == 0, before.st_mode & S_IFMT == S_IFLNK {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a symbolic link, which the store did not create; nothing was removed")
        }
        let file = inspectFile(at: path)
        guard file.isWhizbangStore else {
            throw EventStoreError(
                .invalidArgument, message: "\(path) is \(file.description), not a Whizbang store; nothing was removed")
        }
        // Read as the inspection reads, without the hold: a store holding someone else's objects is refused before
        // anything is locked or made beside it.
        try refuseObjectsNotCreated(inStoreAt: path)
        afterInspection()
        // The hold makes an empty WAL where there was none; that one goes again when the hold closes after a refusal.
        var walStatus = stat()
        let hadWAL = lstat(path + "-wal", &walStatus) == 0
        // Held until the files are gone, so that no connection opens the store in between.
        guard let hold = try exclusiveHold(path) else {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a Whizbang store that another connection has open; nothing was removed")
        }
        defer { hold.close() }
        // Before any check that may throw, as a restore's replacement does: a connection that removes its WAL on
        // closing does so by name, and the file held may be another database renamed into place, with its own WAL.
        do throws(SQLiteError) {
            try hold.keepWALOnClose()
        } catch {
            throw error.eventStoreError
        }
        // The file held must be the one inspected: another may have been renamed into its place in between (a
        // restore's, or another application's database, which the hold would lock all the same).
        let creator = try? hold.queryTexts("SELECT value FROM \(SQLiteSchema.markTable) WHERE key = 'created_by'")
        var after = stat()
        guard creator == [SQLiteSchema.markCreator], lstat(path, &after) == 0, after.st_ino == before.st_ino,
            after.st_dev == before.st_dev, after.st_mode & S_IFMT == S_IFREG
        else {
            throw EventStoreError(
                .invalidArgument, message: "\(path) changed while it was checked; nothing was removed")
        }
        // Checked again under the hold: what someone added since the first check would go with the file too.
        do throws(EventStoreError) {
            try refuseObjectsNotCreated(in: path, on: hold)
        } catch {
            // The file held is the store inspected (the same inode, locked), and it stays: its WAL and the file are
            // left as they are, without the checkpoint a closing connection makes, and a WAL that the hold made goes.
            if hadWAL { try? hold.leaveWALOnClose() } else { try? hold.keepWALOnClose(false) }
            throw error
        }
        // The WAL goes first: a WAL left beside a later database of the same name would be replayed into it.
        for companion in [path + "-wal", path + "-shm", path] where unlink(companion) != 0 && errno != ENOENT {
            let number = errno
            let reason = String(cString: strerror(number))
            if number == EACCES || number == EPERM || number == EROFS {
                throw EventStoreError(.readOnly, message: "cannot remove \(companion): \(reason)")
            }
            throw EventStoreError(.storageFailure, message: "cannot remove \(companion): \(reason)")
        }
    }

    /// ``refuseObjectsNotCreated(in:on:)`` on a connection that reads the store at `path` as ``inspectFile(at:)``
    /// does, without changing it.
    private static func refuseObjectsNotCreated(inStoreAt path: String) throws(EventStoreError) {
        let connection: SQLiteConnection
        do throws(SQLiteError) {
            connection = try SQLiteConnection.forInspection(path: path)
        } catch {
            throw error.eventStoreError
        }
        defer { connection.close() }
        try refuseObjectsNotCreated(in: path, on: connection)
    }

    /// Refuses the store at `path`, read through `connection`, when its file holds tables, views, triggers, indexes
    /// or columns that the store did not create (``SQLiteSchema/objectsNotCreated(on:)``), naming them, or when its
    /// schema is newer than this code knows, so that its objects cannot be told from anyone else's.
    private static func refuseObjectsNotCreated(in path: String, on connection: SQLiteConnection)
        throws(EventStoreError)
    {
        let others: [String]
        do {
            others = try SQLiteSchema.objectsNotCreated(on: connection)
        } catch {
            let error = EventStoreError.storing(error)
            guard error.code == .incompatibleSchema else { throw error }
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a Whizbang store whose schema this code does not know (\(error.message)), so it "
                    + "cannot tell the store's tables from anyone else's; nothing was removed")
        }
        guard others.isEmpty else {
            throw EventStoreError(
                .invalidArgument,
                message: "\(path) is a Whizbang store that also holds what the store did not create "
                    + "(\(SQLiteSchema.listed(others))); removing it would remove that too, so nothing was removed")
        }
    }

    /// Whether `path` is a symbolic link (not followed).
    static func isSymbolicLink(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK
    }

    /// A connection that holds the exclusive lock on the database at `path`, or `nil` when a connection, in this
    /// process or another, has it open.
    ///
    /// A connection to a database in WAL mode holds a shared lock on the file for as long as it is open; this one asks
    /// for the exclusive lock (`locking_mode=EXCLUSIVE`, then `BEGIN EXCLUSIVE`) without waiting, and keeps it until
    /// it is closed. (A connection that has opened the file but not read from it yet holds no lock and is not seen.)
    ///
    /// With `leavingWALOnClose`, the connection is set before it locks to leave the WAL as it is when it closes (see
    /// `SQLiteConnection.leaveWALOnClose()`).
    ///
    /// - Throws: `EventStoreError` when the lock cannot be asked for at all, such as `readOnly` for a file the process
    ///   may not write.
    static func exclusiveHold(_ path: String, leavingWALOnClose: Bool = false) throws(EventStoreError)
        -> SQLiteConnection?
    {
        do throws(SQLiteError) {
            let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 0)
            do throws(SQLiteError) {
                // Before the lock, while closing the connection still does nothing (it has read nothing).
                if leavingWALOnClose { try connection.leaveWALOnClose() }
                try connection.execute("PRAGMA locking_mode = EXCLUSIVE")
                try connection.execute("BEGIN EXCLUSIVE")
                try connection.execute("ROLLBACK")
                return connection
            } catch {
                connection.close()
                guard error.primaryCode == SQLITE_BUSY || error.primaryCode == SQLITE_LOCKED else { throw error }
                return nil
            }
        } catch {
            throw error.eventStoreError
        }
    }
}
