import CSQLiteBaseline
import WhizbangStore

/// SQLite's "copy the bytes now" destructor; the C macro `SQLITE_TRANSIENT` is not imported into Swift.
let sqliteTransient = unsafeBitCast(-1 as Int, to: sqlite3_destructor_type.self)

/// A failed SQLite call in a raw baseline.
struct RawSQLiteError: Error, CustomStringConvertible {
    var code: Int32
    var message: String
    var sql: String

    var description: String { "SQLite error \(code): \(message) (\(sql))" }
}

/// One connection of a raw C-API baseline, opened and configured exactly as `SQLiteEventStore` opens its own, so
/// that framework and baseline differ only in the code around SQLite.
///
/// Same open flags (`READWRITE | NOMUTEX | EXRESCODE`), busy timeout, journal mode (WAL), `synchronous`, page cache
/// (the writer's size, a quarter of it for readers), memory map, `temp_store`, the writer's `journal_size_limit`
/// and `query_only` for readers, all
/// taken from `SQLiteEventStore.Configuration`'s defaults. One difference is deliberate: the store turns SQLite's
/// automatic checkpoint off and runs a passive checkpoint on a background connection once the WAL holds
/// `checkpointPages` pages; the baseline lets SQLite checkpoint at the same WAL size on the committing connection
/// (`wal_autocheckpoint`), as a plain application would.
///
/// Used by one thread at a time; it finalizes its statements when it is closed or released.
final class RawConnection {
    enum Role {
        case writer, reader
    }

    let handle: OpaquePointer
    private var statements: [OpaquePointer] = []

    init(path: String, role: Role, durability: SQLiteEventStore.Configuration.Durability) throws {
        let defaults = SQLiteEventStore.Configuration()
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let code = sqlite3_open_v2(path, &handle, flags, nil)
        guard code == SQLITE_OK, let handle else {
            sqlite3_close_v2(handle)
            throw RawSQLiteError(code: code, message: "cannot open \(path)", sql: "")
        }
        self.handle = handle
        sqlite3_busy_timeout(handle, Int32(defaults.busyTimeout.components.seconds * 1000))
        let cacheKiB = (role == .writer ? defaults.pageCacheBytes : defaults.pageCacheBytes / 4) / 1024
        try execute(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL");
            PRAGMA cache_size = -\(cacheKiB);
            PRAGMA mmap_size = \(defaults.memoryMapBytes);
            PRAGMA temp_store = MEMORY;
            """
        )
        switch role {
        case .writer:
            try execute("PRAGMA wal_autocheckpoint = \(defaults.checkpointPages)")
            try execute("PRAGMA journal_size_limit = \(defaults.checkpointPages * defaults.pageSize)")
        case .reader: try execute("PRAGMA query_only = ON")
        }
    }

    deinit {
        for statement in statements { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs statements that take no parameters.
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard code == SQLITE_OK else {
            throw RawSQLiteError(code: code, message: message.map { String(cString: $0) } ?? "", sql: sql)
        }
    }

    /// Prepares a statement that lives as long as the connection (`SQLITE_PREPARE_PERSISTENT`, as the store does).
    func prepare(_ sql: String) throws -> RawStatement {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw RawSQLiteError(code: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
        }
        statements.append(statement)
        return RawStatement(handle: statement, connection: handle)
    }
}

/// A prepared statement of a ``RawConnection``: thin wrappers over the C calls, nothing else.
struct RawStatement {
    let handle: OpaquePointer
    let connection: OpaquePointer

    /// Steps once; `true` while there is a row.
    @inline(__always)
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            throw RawSQLiteError(code: code, message: String(cString: sqlite3_errmsg(connection)), sql: "")
        }
    }

    /// Steps to the end and resets.
    @inline(__always)
    func run() throws {
        defer { sqlite3_reset(handle) }
        while try step() {}
    }

    @inline(__always)
    func reset() {
        sqlite3_reset(handle)
    }

    @inline(__always)
    func bind(_ value: Int64, at index: Int32) {
        sqlite3_bind_int64(handle, index, value)
    }

    /// Binds text, copied by SQLite.
    @inline(__always)
    func bind(_ text: String, at index: Int32) {
        var text = text
        text.withUTF8 { utf8 in
            _ = sqlite3_bind_text(handle, index, UnsafeRawPointer(utf8.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(utf8.count), sqliteTransient)
        }
    }

    /// Binds bytes as text without copying them; they must stay alive until the statement is reset.
    @inline(__always)
    func bindBorrowedText(_ bytes: UnsafeRawBufferPointer, at index: Int32) {
        sqlite3_bind_text(handle, index, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
    }

    /// Binds a 16-byte blob, copied by SQLite.
    @inline(__always)
    func bind(high: UInt64, low: UInt64, at index: Int32) {
        var bytes = (high.bigEndian, low.bigEndian)
        withUnsafeBytes(of: &bytes) { raw in
            _ = sqlite3_bind_blob(handle, index, raw.baseAddress, 16, sqliteTransient)
        }
    }

    @inline(__always)
    func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }
}
