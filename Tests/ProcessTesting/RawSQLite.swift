import CWhizbangSQLite
import Foundation

/// Runs SQL on a database file outside the store, to damage or inspect it the way another program could; the rows
/// of the last statement that returns any, each column as text.
public func executeRawSQL(_ sql: String, path: String) throws -> [[String]] {
    var handle: OpaquePointer?
    guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else {
        defer { sqlite3_close_v2(handle) }
        throw RawSQLiteError(message: String(cString: sqlite3_errmsg(handle)))
    }
    defer { sqlite3_close_v2(handle) }
    var rows: [[String]] = []
    var remaining = sql
    while true {
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rest: String? = try remaining.withCString { text in
            guard sqlite3_prepare_v2(handle, text, -1, &statement, &tail) == SQLITE_OK else {
                throw RawSQLiteError(message: String(cString: sqlite3_errmsg(handle)))
            }
            return tail.map { String(cString: $0) }
        }
        guard let statement else { break }
        defer { sqlite3_finalize(statement) }
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw RawSQLiteError(message: String(cString: sqlite3_errmsg(handle))) }
            rows.append(
                (0..<sqlite3_column_count(statement)).map { column in
                    sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "NULL"
                })
        }
        guard let rest, !rest.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { break }
        remaining = rest
    }
    return rows
}

/// A failure of ``executeRawSQL(_:path:)``, with SQLite's words.
public struct RawSQLiteError: Error {
    /// What SQLite said.
    public var message: String
}

/// Flips one bit near the end of the root page of the index `index` in the database at `path` (closed, its WAL
/// checkpointed). In an index of a few dozen entries the root page is its only leaf, and its last bytes are a key, so
/// the index then lacks an entry of its table: damage that reads through the table do not meet and only
/// `PRAGMA integrity_check` finds.
public func damageIndexRoot(_ index: String, path: String) throws {
    let root = try executeRawSQL("SELECT rootpage FROM sqlite_schema WHERE name = '\(index)'", path: path)
    let size = try executeRawSQL("PRAGMA page_size", path: path)
    guard let page = root.first?.first.flatMap({ Int($0) }), let pageSize = size.first?.first.flatMap({ Int($0) })
    else { throw RawSQLiteError(message: "\(path) has no index \(index)") }
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    let offset = UInt64(page * pageSize - 6)
    try handle.seek(toOffset: offset)
    guard let byte = try handle.read(upToCount: 1)?.first else {
        throw RawSQLiteError(message: "\(path) ends before its page \(page)")
    }
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: [byte ^ 0x10])
}
