import CWhizbangSQLite

/// The transaction of the append an ``SQLiteInlineProjection`` is applying: runs its statements on the store's writer
/// connection.
///
/// Valid only during ``SQLiteInlineProjection/apply(_:in:)``, on the thread that calls it. Each distinct SQL text is
/// prepared once and reused for the life of the store, so pass values as parameters (`?`), never spliced into the
/// text.
public struct SQLiteInlineDatabase {
    let writer: SQLiteWriter

    /// Runs a statement that returns no rows.
    ///
    /// - Parameters:
    ///   - sql: one SQL statement, with `?` placeholders.
    ///   - values: the placeholders' values, in order.
    /// - Throws: `Whizbang/EventStoreError` if SQLite refuses the statement or its execution fails.
    public func execute(_ sql: String, _ values: [SQLiteValue] = []) throws {
        try query(sql, values) { _ in }
    }

    /// Runs a statement and calls `row` with the columns of each row it returns.
    ///
    /// - Throws: `Whizbang/EventStoreError` from SQLite, or what `row` throws.
    public func query(_ sql: String, _ values: [SQLiteValue] = [], row: ([SQLiteValue]) throws -> Void) throws {
        let statement: SQLiteStatement
        do {
            statement = try writer.projectionStatement(sql)
        } catch {
            throw error.eventStoreError
        }
        defer { statement.reset() }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .null: sqlite3_bind_null(statement.handle, index)
            case .integer(let integer): sqlite3_bind_int64(statement.handle, index, integer)
            case .real(let real): sqlite3_bind_double(statement.handle, index, real)
            // With its length: a C string would end the text at a NUL character.
            case .text(let text): statement.bind(text, at: index)
            case .blob(let bytes):
                bytes.withUnsafeBytes { raw in
                    _ = sqlite3_bind_blob(statement.handle, index, raw.baseAddress, Int32(raw.count), sqliteTransient)
                }
            }
        }
        let columns = sqlite3_column_count(statement.handle)
        while true {
            let hasRow: Bool
            do {
                hasRow = try statement.step()
            } catch {
                throw error.eventStoreError
            }
            guard hasRow else { return }
            try row((0..<columns).map { column in Self.value(statement.handle, column) })
        }
    }

    private static func value(_ handle: OpaquePointer, _ column: Int32) -> SQLiteValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            // By its length, as stored: text may hold a NUL character.
            guard let text = sqlite3_column_text(handle, column) else { return .text("") }
            let count = Int(sqlite3_column_bytes(handle, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard count > 0, let bytes = sqlite3_column_blob(handle, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }
}
