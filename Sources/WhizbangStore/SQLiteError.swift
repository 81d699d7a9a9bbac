import CWhizbangSQLite
import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed SQLite call: SQLite's extended result code and message, the cause of the `EventStoreError` a caller
/// sees (its `underlyingError`).
///
/// Its description holds the result code, SQLite's message and the operating system's `errno`, never SQL text or
/// the values bound to a statement.
public struct SQLiteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// SQLite's extended result code, such as 26 (`SQLITE_NOTADB`) or 2067 (`SQLITE_CONSTRAINT_UNIQUE`).
    public var code: Int32
    /// The operating system's `errno` for I/O errors, 0 otherwise.
    public var systemErrno: Int32
    /// SQLite's message (`sqlite3_errmsg`).
    public var message: String
    /// The statement that failed, where there is one; kept for debugging and never shown in ``description``.
    var sql: String?
    /// Set when the store refused to call SQLite at all (see `SQLiteConnection.refuseStrayCompanions(of:)`): the code
    /// of the store error that ``message`` is the whole of.
    var refusal: EventStoreError.Code?

    init(code: Int32, systemErrno: Int32, message: String, sql: String?) {
        self.code = code
        self.systemErrno = systemErrno
        self.message = message
        self.sql = sql
    }

    /// The store's refusal to open a file, raised where only an SQLite error can be thrown.
    init(refusal: EventStoreError.Code, message: String) {
        self.init(code: SQLITE_CANTOPEN, systemErrno: 0, message: message, sql: nil)
        self.refusal = refusal
    }

    /// The primary result code: the low byte of ``code``, such as 19 (`SQLITE_CONSTRAINT`).
    public var primaryCode: Int32 { code & 0xFF }

    /// `SQLite error <code>: <message>`, with the `errno` where there is one.
    public var description: String {
        var text = "SQLite error \(code): \(message)"
        if systemErrno != 0 { text += " (errno \(systemErrno))" }
        return text
    }

    /// Whether this is a `UNIQUE` or `PRIMARY KEY` constraint violation (`SQLITE_CONSTRAINT_UNIQUE`,
    /// `SQLITE_CONSTRAINT_PRIMARYKEY`; the C macros are not imported).
    var isUniqueViolation: Bool {
        code == SQLITE_CONSTRAINT | (8 << 8) || code == SQLITE_CONSTRAINT | (6 << 8)
    }

    /// The store error a caller sees for this failure, with this error as its cause.
    var eventStoreError: EventStoreError {
        if let refusal { return EventStoreError(refusal, message: message) }
        let kind = kind
        return EventStoreError(kind.code, message: kind.words + description, underlyingError: self)
    }

    /// The store error's code and the words that introduce SQLite's.
    private var kind: (code: EventStoreError.Code, words: String) {
        switch primaryCode {
        case SQLITE_NOTADB:
            return (.notADatabase, "the file is not an SQLite database: ")
        case SQLITE_CORRUPT:
            return (.corruptDatabase, "the database is corrupt: ")
        // SQLITE_READONLY_DIRECTORY and SQLITE_READONLY_CANTINIT (macros Swift does not import): a WAL-mode database
        // is read with a shared-memory file beside it, which a directory the process may not write cannot take.
        case SQLITE_READONLY where code == SQLITE_READONLY | (6 << 8) || code == SQLITE_READONLY | (5 << 8):
            return (
                .readOnly,
                "the database's directory cannot be written, and SQLite reads a WAL-mode database only with a "
                    + "shared-memory file beside it (ask for write access to the directory, or copy the file): "
            )
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH:
            return (.readOnly, "the database cannot be written: ")
        case SQLITE_FULL:
            return (.storageFull, "the storage is full: ")
        // Every extended code (BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT) too: the statement did nothing, and the
        // same call may succeed once the other connection lets go. SQLITE_LOCKED is not one of them: without a
        // shared cache, which the store does not use, it is a conflict within one connection.
        case SQLITE_BUSY:
            return (.unavailable, "the database was locked by another connection for longer than the busy timeout: ")
        case SQLITE_CANTOPEN where systemErrno == EACCES || systemErrno == EROFS || systemErrno == EPERM:
            return (.readOnly, "the database or its directory cannot be written: ")
        case SQLITE_IOERR where systemErrno == ENOSPC || systemErrno == EFBIG || systemErrno == EDQUOT:
            return (.storageFull, "the storage is full: ")
        case SQLITE_IOERR where systemErrno == EACCES || systemErrno == EROFS || systemErrno == EPERM:
            return (.readOnly, "the database cannot be written: ")
        default:
            return (.storageFailure, "")
        }
    }
}

extension EventStoreError {
    /// The store error for what a store operation threw: a store error as it is, an SQLite error as
    /// ``SQLiteError/eventStoreError``, anything else as a storage failure.
    static func storing(_ error: any Error) -> EventStoreError {
        switch error {
        case let error as EventStoreError: error
        case let error as SQLiteError: error.eventStoreError
        default: EventStoreError(.storageFailure, message: "\(error)")
        }
    }
}
