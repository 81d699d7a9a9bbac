import CSQLite
import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed SQLite call, with what is needed to map it to an ``EventStoreError``.
struct SQLiteError: Error, CustomStringConvertible {
    /// The extended result code.
    var code: Int32
    /// The operating system's `errno` for I/O errors, 0 otherwise.
    var systemErrno: Int32
    /// SQLite's message.
    var message: String
    /// The statement, where there is one.
    var sql: String?

    /// The primary result code (the low byte of the extended one).
    var primaryCode: Int32 { code & 0xFF }

    var description: String {
        var text = "SQLite error \(code): \(message)"
        if systemErrno != 0 { text += " (errno \(systemErrno))" }
        if let sql { text += " in `\(sql)`" }
        return text
    }

    /// Whether this is a `UNIQUE` or `PRIMARY KEY` constraint violation (`SQLITE_CONSTRAINT_UNIQUE`,
    /// `SQLITE_CONSTRAINT_PRIMARYKEY`; the C macros are not imported).
    var isUniqueViolation: Bool {
        code == SQLITE_CONSTRAINT | (8 << 8) || code == SQLITE_CONSTRAINT | (6 << 8)
    }

    /// The store error a caller sees for this failure.
    var eventStoreError: EventStoreError {
        let text = description
        switch primaryCode {
        case SQLITE_NOTADB:
            return EventStoreError(.notADatabase, message: "the file is not an SQLite database: \(text)")
        case SQLITE_CORRUPT:
            return EventStoreError(.corruptDatabase, message: "the database is corrupt: \(text)")
        case SQLITE_READONLY, SQLITE_PERM, SQLITE_AUTH:
            return EventStoreError(.readOnly, message: "the database cannot be written: \(text)")
        case SQLITE_FULL:
            return EventStoreError(.storageFull, message: "the storage is full: \(text)")
        case SQLITE_CANTOPEN where systemErrno == EACCES || systemErrno == EROFS || systemErrno == EPERM:
            return EventStoreError(.readOnly, message: "the database or its directory cannot be written: \(text)")
        case SQLITE_IOERR where systemErrno == ENOSPC || systemErrno == EFBIG || systemErrno == EDQUOT:
            return EventStoreError(.storageFull, message: "the storage is full: \(text)")
        case SQLITE_IOERR where systemErrno == EACCES || systemErrno == EROFS || systemErrno == EPERM:
            return EventStoreError(.readOnly, message: "the database cannot be written: \(text)")
        default:
            return EventStoreError(.storageFailure, message: text)
        }
    }
}
