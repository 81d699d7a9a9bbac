import CWhizbangSQLite
import Foundation
import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One SQLite connection, used by one thread at a time (opened with `SQLITE_OPEN_NOMUTEX`).
///
/// It owns the statements it prepares and finalizes them when it closes.
final class SQLiteConnection {
    private(set) var handle: OpaquePointer?
    private var statements: [OpaquePointer] = []
    let path: String

    /// Opens an existing database file (see ``createFileIfNeeded(at:)``) for reading and writing, or, with
    /// `readOnly`, for reading only (the `mode=ro` of a URI): SQLite then never writes the file. With `immutable`
    /// (read-only), SQLite also takes no lock and makes no WAL or shared-memory file beside it; only for a file that
    /// no one writes meanwhile. `vfs` names the SQLite VFS to open the file with; `nil` for the default one.
    ///
    /// With `inMemory`, `path` is ignored and the connection opens a new, empty in-memory database, with none of the
    /// checks of a file.
    init(
        path: String, busyTimeoutMilliseconds: Int32, readOnly: Bool = false, immutable: Bool = false,
        vfs: String? = nil, inMemory: Bool = false
    ) throws(SQLiteError) {
        self.path = path
        // Whatever the caller checked before: no connection but an immutable one (which never reads a journal) opens
        // beside a rollback journal, which one that may write would roll back into the database.
        if !immutable, !inMemory, !path.isEmpty,
            let journal = Self.strayJournal(of: path, waitingUpTo: .milliseconds(busyTimeoutMilliseconds))
        {
            throw SQLiteError(refusal: .invalidArgument, message: Self.strayJournalRefusal(journal, of: path))
        }
        // Nor beside a WAL or shared-memory file that is not a regular file: SQLite opens them without following a
        // link, and failed with a bare "unable to open database file (errno 40)", having made the other one.
        if !immutable, !inMemory, !path.isEmpty, let refusal = Self.irregularCompanionRefusal(of: path) {
            throw SQLiteError(refusal: .invalidArgument, message: refusal)
        }
        // Nor, to write, beside one this process may not write: SQLite then fails with "attempt to write a readonly
        // database", which sends one to the database file and its directory.
        if !readOnly, !immutable, !inMemory, !path.isEmpty,
            let refusal = Self.unwritableCompanionRefusal(of: path)
        {
            throw SQLiteError(refusal: .readOnly, message: refusal)
        }
        var handle: OpaquePointer?
        var flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        var name = inMemory ? ":memory:" : Self.plainFileName(path)
        if immutable {
            var allowed = CharacterSet.urlPathAllowed
            allowed.remove(charactersIn: "?#%")
            // An absolute path goes after an empty authority (`file://`): a path that starts with `//` is a valid
            // name of a file, which after `file:` alone SQLite would read as an authority, and refuse.
            let encoded = name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
            name = (name.hasPrefix("/") ? "file://" : "file:") + encoded + "?mode=ro&immutable=1"
            flags |= SQLITE_OPEN_URI
        }
        let code = sqlite3_open_v2(name, &handle, flags, vfs)
        self.handle = handle
        guard code == SQLITE_OK else {
            let error = self.error(code, sql: nil)
            sqlite3_close_v2(handle)
            self.handle = nil
            throw error
        }
        sqlite3_extended_result_codes(handle, 1)
        // SQLite opens a file it cannot write for reading only, without a word; the first read would then make a WAL
        // and a shared-memory file beside it, which the owner's next writable open meets as read-only. Refused here,
        // before anything is read, so that nothing is made.
        if !readOnly, sqlite3_db_readonly(handle, "main") == 1 {
            sqlite3_close_v2(handle)
            self.handle = nil
            throw SQLiteError(
                code: SQLITE_READONLY, systemErrno: 0, message: "'\(path)' cannot be opened for writing", sql: nil)
        }
        // SQLite's own busy handler sleeps up to 100 ms between tries; against a writer in another process that
        // commits back to back, those tries keep missing the short gaps between its transactions until the timeout
        // passes. Polling every 0.1–1 ms finds a gap long before.
        sqlite3_busy_handler(
            handle,
            { context, attempts in
                let timeoutMicroseconds = Int(bitPattern: context) * 1_000
                guard busyWaitMicroseconds(afterAttempts: Int(attempts)) < timeoutMicroseconds else { return 0 }
                usleep(UInt32(busyPauseMicroseconds(attempt: Int(attempts))))
                return 1
            },
            UnsafeMutableRawPointer(bitPattern: Int(max(1, busyTimeoutMilliseconds)))
        )
    }

    deinit {
        close()
    }

    /// Creates the database file with mode 0600 unless it exists, so that SQLite (which would create it with the
    /// process's umask, usually 0644) never makes it readable by others. The WAL and shared-memory files SQLite
    /// makes later copy the database file's mode.
    ///
    /// An existing file is not opened: closing a descriptor of a file drops every POSIX lock the process holds on
    /// it, so an open and close here would take the locks of the process's other connections to the same database
    /// (SQLite's "How To Corrupt", section 2.2). `O_EXCL` creates the file or fails without opening it.
    ///
    /// A rollback journal that a store creating the database uses at this moment is waited for, up to `busyTimeout`
    /// (see ``strayJournal(of:waitingUpTo:)``).
    ///
    /// - Throws: `EventStoreError/Code/readOnly` when the file or its directory cannot be written,
    ///   `EventStoreError/Code/invalidArgument` when `path` names a directory or a name too long (see
    ///   ``refuseLongFileName(_:new:)``), a stray companion beside it,
    ///   `EventStoreError/Code/storageFailure` otherwise.
    static func createFileIfNeeded(at path: String, busyTimeout: Duration) throws(EventStoreError) {
        var status = stat()
        try refuseLongFileName(path, new: lstat(path, &status) != 0 && errno == ENOENT)
        try refuseStrayCompanions(of: path, waitingUpTo: busyTimeout)
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            closeDescriptor(descriptor)
            return
        }
        let number = errno
        if number == EEXIST {
            // A directory, which SQLite would refuse as "disk I/O error (errno 21)"; anything else SQLite opens, or
            // says what it is.
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { return }
            throw EventStoreError(
                .invalidArgument, message: "'\(path)' is a directory; give the path of a database file")
        }
        let reason = String(cString: strerror(number))
        switch number {
        case EACCES, EROFS, EPERM:
            throw EventStoreError(.readOnly, message: "cannot open '\(path)' for writing: \(reason)")
        case ENOSPC, EDQUOT:
            throw EventStoreError(.storageFull, message: "cannot create '\(path)': \(reason)")
        default:
            throw EventStoreError(.storageFailure, message: "cannot open '\(path)': \(reason)")
        }
    }

    /// The most bytes the file name of a new database may have: SQLite names files after it with up to 8 bytes more
    /// (the rollback journal it makes once, while it turns WAL mode on), and a file name may have 255 bytes.
    static let longestNewFileName = 255 - "-journal".utf8.count

    /// The most bytes the file name of a database in WAL mode may have: its WAL and shared-memory files add 4.
    static let longestFileName = 255 - "-wal".utf8.count

    /// Refuses a database whose file name is too long for SQLite to name its files after it (``longestFileName``,
    /// or ``longestNewFileName`` for a database still to be made): the database could be made, but not the file
    /// that SQLite names after it, and SQLite would fail at its first write instead.
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` for such a name.
    static func refuseLongFileName(_ path: String, new: Bool) throws(EventStoreError) {
        let name = PathParts(path).name
        let longest = new ? longestNewFileName : longestFileName
        guard name.utf8.count > longest else { return }
        throw EventStoreError(
            .invalidArgument,
            message: "the file name of '\(path)' has \(name.utf8.count) bytes: SQLite names its "
                + (new ? "journal after it with 8 bytes more" : "WAL after it with 4 bytes more")
                + ", and a file name may have 255; give a name of at most \(longest) bytes")
    }

    /// `path` as a name SQLite takes for a file, never for a URI: a SQLite built to read URIs everywhere (as
    /// Debian's is, `SQLITE_USE_URI`) takes a name that starts with `file:` for one, so that the file named
    /// `file:y.sqlite` in the current directory would be read as the URI of `y.sqlite`, another file, while every
    /// check of the store (its companions, its mark, the replacement's renames) looked at the first. `./` before a
    /// relative name keeps it a file's name, the same file. So for `:memory:`, which SQLite takes for an in-memory
    /// database of its own, while the store's checks (and its callers') look at the file of that name.
    static func plainFileName(_ path: String) -> String {
        path.hasPrefix("file:") || path == ":memory:" ? "./" + path : path
    }

    /// A read-only connection that makes nothing beside `path`: the file is read as immutable (SQLite then makes no
    /// WAL or shared-memory file next to a file that may not be a store) unless a WAL with content and its
    /// shared-memory file are both beside it, when it is read with its WAL, since the WAL holds commits. A WAL without
    /// its shared-memory file is left unread: reading it would make that file, and only a process that was stopped
    /// outside SQLite, or a person, leaves a WAL so.
    ///
    /// A rollback journal beside the file is refused (see ``refuseStrayCompanions(of:)``), unless
    /// `ignoringStrayJournal`: then the file alone is read as immutable, which never rolls a journal back (for
    /// ``SQLiteEventStore/inspectFile(at:)``, which says what the file is, not what it holds).
    ///
    /// The files are looked for beside the file a symbolic link leads to, where SQLite keeps them.
    static func forInspection(path: String, ignoringStrayJournal: Bool = false) throws(SQLiteError)
        -> SQLiteConnection
    {
        let journal = strayJournal(of: path)
        if let journal, !ignoringStrayJournal {
            throw SQLiteError(refusal: .invalidArgument, message: strayJournalRefusal(journal, of: path))
        }
        let database = SQLiteMadeCompanions.resolved(path)
        var status = stat()
        // Only regular files: anything else there (a symbolic link, say) is refused by every open that reads them.
        let readsWAL =
            journal == nil && lstat(database + "-wal", &status) == 0 && status.st_mode & S_IFMT == S_IFREG
            && status.st_size > 0 && lstat(database + "-shm", &status) == 0 && status.st_mode & S_IFMT == S_IFREG
        return try SQLiteConnection(path: path, busyTimeoutMilliseconds: 1_000, readOnly: true, immutable: !readsWAL)
    }

    /// Refuses the database at `path` when a file that SQLite would take for one of its own is beside it, none of
    /// which the store made or may remove or change:
    ///
    /// - a rollback journal, always: the store keeps every database in WAL mode, where SQLite makes one only for a
    ///   moment while it creates the database, so it is another database's (copied in, or left by another program)
    ///   or left by a process killed while it created this one, and a connection that may write would roll it back
    ///   into this database, writing what it holds over it;
    /// - where no database is at `path`, a WAL or shared-memory file too: SQLite would read the WAL into the new
    ///   database as if it were its own (another database's commits, or garbage), and write over the other.
    ///
    /// The journal is looked for beside the file a symbolic link leads to, where SQLite looks for it; a symbolic link
    /// or anything else under its name counts (`lstat`).
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` naming the file.
    static func refuseStrayCompanions(of path: String, waitingUpTo timeout: Duration = .zero) throws(EventStoreError)
    {
        try refuseStrayJournal(of: path, waitingUpTo: timeout)
        var status = stat()
        for companion in [path + "-wal", path + "-shm"] where lstat(companion, &status) == 0 {
            // A store that creates the database makes its file before its WAL: a companion is stray only if the
            // file is still missing after the companion was seen.
            guard lstat(path, &status) != 0, errno == ENOENT else { return }
            throw EventStoreError(
                .invalidArgument,
                message: "\(companion) exists but \(path) does not; SQLite would take it for the new database's own, "
                    + "and it is not the store's to remove")
        }
    }

    /// Refuses the database at `path` when a rollback journal is beside it (see ``refuseStrayCompanions(of:)``),
    /// after waiting up to `timeout` for one that a store creating the database uses (see
    /// ``strayJournal(of:waitingUpTo:)``).
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` naming the file.
    static func refuseStrayJournal(of path: String, waitingUpTo timeout: Duration = .zero) throws(EventStoreError) {
        if let journal = strayJournal(of: path, waitingUpTo: timeout) {
            throw EventStoreError(.invalidArgument, message: strayJournalRefusal(journal, of: path))
        }
    }

    /// The rollback journal beside the database at `path` (links to the database followed), when anything is under
    /// its name.
    ///
    /// SQLite makes a journal for a moment when a store turns a new database's WAL mode on, while the file holds
    /// one page at most: beside a file of at most 65,536 bytes (the largest page) a journal is looked at again, with
    /// short pauses, for up to `timeout`, and is stray only if it is still there. A journal beside a larger file is
    /// stray at once.
    static func strayJournal(of path: String, waitingUpTo timeout: Duration = .zero) -> String? {
        let database = SQLiteMadeCompanions.resolved(path)
        let journal = database + "-journal"
        var status = stat()
        guard lstat(journal, &status) == 0 else { return nil }
        guard timeout > .zero, stat(database, &status) == 0, status.st_size <= 65_536 else { return journal }
        let deadline = ContinuousClock.now + timeout.asTimeLimit
        var pause: UInt32 = 1_000
        while ContinuousClock.now < deadline {
            usleep(pause)
            pause = min(pause * 2, 50_000)
            guard lstat(journal, &status) == 0 else { return nil }
        }
        return journal
    }

    /// The words of the refusal of the database at `path` when its WAL or shared-memory file (beside the file a link
    /// leads to, where SQLite keeps them) is something other than a regular file, such as a symbolic link, which
    /// SQLite never opens (it opens them with `O_NOFOLLOW`), or a regular file with another name (a hard link), whose
    /// bytes SQLite would write over, as it writes its own: `nil` when each is a regular file of one name, or absent.
    static func irregularCompanionRefusal(of path: String) -> String? {
        let database = SQLiteMadeCompanions.resolved(path)
        for (suffix, role) in [("-wal", "WAL"), ("-shm", "shared-memory file")] {
            let companion = database + suffix
            var status = stat()
            guard lstat(companion, &status) == 0 else { continue }
            let kind: String
            switch status.st_mode & S_IFMT {
            case S_IFREG where status.st_nlink > 1: kind = "a file with \(status.st_nlink) names (hard links)"
            case S_IFREG: continue
            case S_IFLNK: kind = "a symbolic link"
            case S_IFDIR: kind = "a directory"
            default: kind = "a special file (a pipe, a socket or a device)"
            }
            // A file with another name may still be the store's own WAL, holding commits: the other name goes.
            let remedy =
                status.st_mode & S_IFMT == S_IFREG
                ? "remove its other name (not \(companion), which may hold commits of \(path)), found with "
                    + "`find <file system> -samefile \(companion)`"
                : "if \(companion) is not yours to keep, move it away"
            return "\(companion) is \(kind), where the store keeps the \(role) of \(path) (SQLite opens only a "
                + "regular file there, never through a link, and writes it, under every name it has), so \(path) is "
                + "not opened beside it. Nothing was changed; \(remedy)"
        }
        return nil
    }

    /// Why a connection that may write cannot open the database at `path`, which this process may write: a WAL or
    /// shared-memory file beside it that the file's permissions keep it from writing (another user's: a read by a
    /// user who may not write the database leaves them, as no such connection can take the lock under which they are
    /// removed); `nil` when each is writable or absent, or when the database itself is not writable (SQLite's own
    /// error says that).
    static func unwritableCompanionRefusal(of path: String) -> String? {
        let database = SQLiteMadeCompanions.resolved(path)
        guard faccessat(AT_FDCWD, database, W_OK, AT_EACCESS) == 0 else { return nil }
        for (suffix, role) in [("-wal", "WAL"), ("-shm", "shared-memory file")] {
            let companion = database + suffix
            var status = stat()
            guard lstat(companion, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
                faccessat(AT_FDCWD, companion, R_OK | W_OK, AT_EACCESS) != 0, errno == EACCES
            else { continue }
            var wal = stat()
            let walHoldsFrames = lstat(database + "-wal", &wal) == 0 && wal.st_size > 0
            let remedy =
                walHoldsFrames
                ? "its WAL may hold commits not yet in the database: have root, or a user who may write the database "
                    + "and both files, open the database once, which writes them into it and removes the files"
                : "once no program has the database open, remove \(database)-wal and \(database)-shm (as their "
                    + "owner or root)"
            return "\(companion), the \(role) of \(path), belongs to user \(status.st_uid) and this process (user "
                + "\(geteuid())) may not write it, which SQLite must to change the database (a read by a user who may "
                + "not write the database leaves its WAL and shared-memory files). Nothing was changed; \(remedy)"
        }
        return nil
    }

    /// The words of the refusal of the database at `path` for the rollback journal `journal` beside it.
    static func strayJournalRefusal(_ journal: String, of path: String) -> String {
        "\(journal) is a rollback journal, which the store does not use (it keeps \(path) in WAL mode; SQLite makes "
            + "one only for a moment while it creates a database): another program's, copied in from another "
            + "database, or left by a process killed while it created \(path). SQLite would roll it back into \(path), "
            + "writing what it holds over it. Nothing was changed; if \(journal) is not yours to keep, move it away"
    }

    /// Finalizes every statement and closes the connection; safe to call twice.
    func close() {
        for statement in statements { sqlite3_finalize(statement) }
        statements.removeAll()
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    /// Prepares a statement that lives as long as the connection.
    func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code, sql: sql) }
        statements.append(statement)
        return SQLiteStatement(handle: statement, connection: self)
    }

    /// Runs one or more statements that take no parameters (schema changes, pragmas).
    func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        if let message { sqlite3_free(message) }
        guard code == SQLITE_OK else { throw error(code, sql: sql) }
    }

    /// Runs a query once and returns the first column of its first row as an integer (`nil` if there is no row or
    /// the value is `NULL`); for pragmas and startup checks, not for hot paths.
    func queryInteger(_ sql: String) throws(SQLiteError) -> Int64? {
        try queryIntegers(sql).first ?? nil
    }

    /// Runs a query once and returns the columns of its first row as integers (`nil` for a `NULL`; empty if there is no
    /// row); for startup checks that must read several values in one snapshot.
    func queryIntegers(_ sql: String) throws(SQLiteError) -> [Int64?] {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code, sql: sql) }
        defer { sqlite3_finalize(statement) }
        let step = sqlite3_step(statement)
        switch step {
        case SQLITE_ROW:
            return (0..<sqlite3_column_count(statement)).map { column in
                sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
            }
        case SQLITE_DONE:
            return []
        default:
            throw error(step, sql: sql)
        }
    }

    /// Makes the connection keep its WAL file when it closes (`SQLITE_FCNTL_PERSIST_WAL`) instead of removing it, and
    /// with it the shared-memory file, by name; `false` undoes it.
    func keepWALOnClose(_ keep: Bool = true) throws(SQLiteError) {
        var on: Int32 = keep ? 1 : 0
        let code = sqlite3_file_control(handle, "main", SQLITE_FCNTL_PERSIST_WAL, &on)
        guard code == SQLITE_OK else { throw error(code, sql: nil) }
    }

    /// Makes the connection leave the WAL as it is when it closes (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`): nothing of it
    /// is checkpointed into the database, and neither it nor the shared-memory file is removed.
    func leaveWALOnClose() throws(SQLiteError) {
        let code = whizbang_sqlite3_no_checkpoint_on_close(handle)
        guard code == SQLITE_OK else { throw error(code, sql: nil) }
    }

    /// Runs a query once and returns the first column of every row as text; for pragmas such as `integrity_check`.
    func queryTexts(_ sql: String) throws(SQLiteError) -> [String] {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else { throw error(code, sql: sql) }
        defer { sqlite3_finalize(statement) }
        var texts: [String] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { return texts }
            guard step == SQLITE_ROW else { throw error(step, sql: sql) }
            texts.append(sqlite3_column_text(statement, 0).map { String(cString: $0) } ?? "")
        }
    }

    /// The error for a result code, with the connection's message and the system `errno`.
    func error(_ code: Int32, sql: String?) -> SQLiteError {
        guard let handle else {
            return SQLiteError(code: code, systemErrno: 0, message: String(cString: sqlite3_errstr(code)), sql: sql)
        }
        let extended = sqlite3_extended_errcode(handle)
        let useExtended = extended & 0xFF == code & 0xFF
        var error = SQLiteError(
            code: useExtended ? extended : code,
            systemErrno: sqlite3_system_errno(handle),
            message: String(cString: sqlite3_errmsg(handle)),
            sql: sql
        )
        // SQLite reports a write that fails with EFBIG (a file size limit) or ENOSPC at a page boundary as a plain
        // I/O error, and its saved errno is not reliable by then; look at the limits themselves.
        if error.primaryCode == SQLITE_IOERR, let cause = storageExhaustion() {
            error.systemErrno = cause
        }
        return error
    }

    /// `EFBIG` if the database or its WAL has reached the process's file size limit, `ENOSPC` if the file system
    /// has (almost) no space left, `nil` otherwise.
    private func storageExhaustion() -> Int32? {
        let margin: UInt64 = 1 << 20
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            for file in [path, SQLiteMadeCompanions.resolved(path) + "-wal"] {
                var status = stat()
                if stat(file, &status) == 0, UInt64(status.st_size) + margin >= UInt64(limit.rlim_cur) {
                    return EFBIG
                }
            }
        }
        var fileSystem = statvfs()
        if statvfs(path, &fileSystem) == 0, UInt64(fileSystem.f_bavail) * UInt64(fileSystem.f_frsize) < margin {
            return ENOSPC
        }
        return nil
    }

    /// The row id of the last row inserted on this connection.
    var lastInsertRowID: Int64 {
        sqlite3_last_insert_rowid(handle)
    }

    /// Whether the connection is in a transaction (not in autocommit mode).
    var isInTransaction: Bool {
        sqlite3_get_autocommit(handle) == 0
    }
}

private func closeDescriptor(_ descriptor: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(descriptor)
    #else
    _ = Darwin.close(descriptor)
    #endif
}

/// The pause before busy retry number `attempt` (from 0): 0.1 ms for the first 10, 0.5 ms up to 50, then 1 ms.
func busyPauseMicroseconds(attempt: Int) -> Int {
    attempt < 10 ? 100 : attempt < 50 ? 500 : 1_000
}

/// The time spent pausing in the first `attempts` busy retries.
func busyWaitMicroseconds(afterAttempts attempts: Int) -> Int {
    if attempts <= 10 { return attempts * 100 }
    if attempts <= 50 { return 1_000 + (attempts - 10) * 500 }
    return 21_000 + (attempts - 50) * 1_000
}
