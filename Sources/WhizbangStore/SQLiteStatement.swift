import CWhizbangSQLite

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// SQLite's "copy the bytes now" destructor; the C macro `SQLITE_TRANSIENT` is not imported into Swift.
let sqliteTransient = unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self)

/// A prepared, parameterised statement, prepared once by its ``SQLiteConnection`` and reused.
///
/// A statement belongs to the thread of its connection; the connection finalizes it when it closes. Parameters are
/// numbered from 1 and columns from 0, as in the C API.
struct SQLiteStatement {
    let handle: OpaquePointer
    unowned(unsafe) let connection: SQLiteConnection

    /// Runs the statement one step; `true` while it yields a row.
    @inline(__always)
    func step() throws(SQLiteError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(code, sql: sql)
        }
    }

    /// Runs a statement that returns no rows (or whose rows do not matter), then resets it.
    func execute() throws(SQLiteError) {
        defer { reset() }
        while try step() {}
    }

    /// Runs a statement that returns no rows and resets it, returning the error instead of throwing it (for use
    /// inside closures that borrow the bound bytes).
    func executeReturningError() -> SQLiteError? {
        do {
            try execute()
            return nil
        } catch {
            return error
        }
    }

    /// Makes the statement ready to run again and clears its parameters' borrowed pointers.
    @inline(__always)
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    var sql: String {
        sqlite3_sql(handle).map { String(cString: $0) } ?? ""
    }

    // MARK: Binding

    @inline(__always)
    func bind(_ value: Int64, at index: Int32) {
        sqlite3_bind_int64(handle, index, value)
    }

    @inline(__always)
    func bind(_ value: UInt64, at index: Int32) {
        sqlite3_bind_int64(handle, index, Int64(clamping: value))
    }

    func bindNull(at index: Int32) {
        sqlite3_bind_null(handle, index)
    }

    /// Binds text, copying it (SQLite keeps its own copy until the next bind or reset).
    @inline(__always)
    func bind(_ text: String, at index: Int32) {
        var text = text
        text.withUTF8 { buffer in
            _ = sqlite3_bind_text(
                handle, index, buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
                    ?? emptyCString, Int32(buffer.count), sqliteTransient)
        }
    }

    /// Binds a 16-byte event id as a blob.
    @inline(__always)
    func bind(_ id: MessageID, at index: Int32) {
        var bytes = (id.high.bigEndian, id.low.bigEndian)
        withUnsafeBytes(of: &bytes) { raw in
            _ = sqlite3_bind_blob(handle, index, raw.baseAddress, 16, sqliteTransient)
        }
    }

    /// Binds UTF-8 text that stays alive and unchanged until the statement is reset (`SQLITE_STATIC`, no copy).
    @inline(__always)
    func bindBorrowedText(_ text: UnsafeBufferPointer<UInt8>, at index: Int32) {
        let base = text.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? emptyCString
        sqlite3_bind_text(handle, index, base, Int32(text.count), nil)
    }

    /// Binds bytes that stay alive and unchanged until the statement is reset (`SQLITE_STATIC`, no copy): as text
    /// when they are valid UTF-8 (so JSON reads as text in the `sqlite3` shell), otherwise as a blob.
    ///
    /// - Parameter nullIfEmpty: binds `NULL` for no bytes, instead of empty text.
    @inline(__always)
    func bindBorrowedPayload(_ bytes: UnsafeRawBufferPointer, at index: Int32, nullIfEmpty: Bool = false) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            if nullIfEmpty {
                sqlite3_bind_null(handle, index)
            } else {
                sqlite3_bind_text(handle, index, emptyCString, 0, nil)
            }
            return
        }
        if SQLiteStatement.isUTF8(bytes) {
            sqlite3_bind_text(handle, index, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
        } else {
            sqlite3_bind_blob(handle, index, base, Int32(bytes.count), nil)
        }
    }

    /// Whether bytes are valid UTF-8 without NUL bytes, with a fast path for ASCII (the usual JSON).
    static func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        // Eight bytes at a time while every byte is ASCII and none is NUL.
        while index + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let hasHighBit = word & 0x8080_8080_8080_8080 != 0
            let hasZero = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080 != 0
            if hasHighBit || hasZero { break }
            index += 8
        }
        while index < count, bytes[index] != 0, bytes[index] < 0x80 { index += 1 }
        if index == count { return true }
        // A byte that cannot begin a character (NUL, a continuation byte, an overlong or out-of-range lead) where
        // one must begin: not UTF-8 without NUL, without scanning the rest. The binary envelope form starts so.
        let lead = bytes[index]
        if lead < 0xC2 || lead > 0xF4 { return false }
        // Slow path: validate the rest strictly.
        let rest = UnsafeRawBufferPointer(rebasing: bytes[index...])
        if rest.contains(0) { return false }
        return String(validating: rest, as: UTF8.self) != nil
    }

    // MARK: Columns

    @inline(__always)
    func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    @inline(__always)
    func uint64(at column: Int32) -> UInt64 {
        UInt64(clamping: sqlite3_column_int64(handle, column))
    }

    @inline(__always)
    func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    @inline(__always)
    func text(at column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// The bytes of a text or blob column, as stored.
    @inline(__always)
    func data(at column: Int32) -> Data {
        guard let pointer = sqlite3_column_blob(handle, column) else { return Data() }
        let count = Int(sqlite3_column_bytes(handle, column))
        return Data(bytes: pointer, count: count)
    }

    /// The bytes of a text or blob column as SQLite holds them, without a copy: valid until the statement steps,
    /// resets, or converts the column.
    @inline(__always)
    func bytes(at column: Int32) -> UnsafeRawBufferPointer {
        guard let pointer = sqlite3_column_blob(handle, column) else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column)))
    }

    /// Refuses, as `SQLITE_CORRUPT`, an event row whose position (column 0) or version (1) is below 1, or whose
    /// id (2) is not 16 bytes: no store writes one, and read as they are they would be a version 0, or the nil UUID,
    /// that no caller could tell from a real one.
    func checkEventColumns() throws(SQLiteError) {
        guard int64(at: 0) >= 1, int64(at: 1) >= 1, checkedMessageID(at: 2) != nil else { throw corruptEventRow() }
    }

    /// The error for an event row that ``checkEventColumns()`` refuses, naming what is wrong with it.
    func corruptEventRow() -> SQLiteError {
        let position = int64(at: 0)
        let version = int64(at: 1)
        let problem =
            position < 1
            ? "a position of \(position)"
            : version < 1 ? "a version of \(version)" : "an event id that is not 16 bytes"
        return SQLiteError(
            code: SQLITE_CORRUPT, systemErrno: 0,
            message: "the event row at position \(position) has \(problem), which the store never writes: the file "
                + "was changed outside it",
            sql: nil)
    }

    /// A 16-byte column as a message id, or `nil` when it is not 16 bytes.
    @inline(__always)
    func checkedMessageID(at column: Int32) -> MessageID? {
        guard let pointer = sqlite3_column_blob(handle, column), sqlite3_column_bytes(handle, column) == 16 else {
            return nil
        }
        let high = UInt64(bigEndian: pointer.loadUnaligned(as: UInt64.self))
        let low = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return MessageID(high: high, low: low)
    }

    /// A 16-byte blob column as a message id; a malformed one reads as the nil UUID (see ``checkEventColumns()``).
    @inline(__always)
    func messageID(at column: Int32) -> MessageID {
        guard let pointer = sqlite3_column_blob(handle, column), sqlite3_column_bytes(handle, column) == 16 else {
            return MessageID(high: 0, low: 0)
        }
        let high = UInt64(bigEndian: pointer.loadUnaligned(as: UInt64.self))
        let low = UInt64(bigEndian: pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return MessageID(high: high, low: low)
    }
}

/// A NUL byte that lives as long as the process, for binding empty text.
nonisolated(unsafe) private let emptyCString: UnsafePointer<CChar> = {
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return UnsafePointer(pointer)
}()
