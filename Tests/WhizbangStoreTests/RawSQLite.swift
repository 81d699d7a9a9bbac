import CWhizbangSQLite
import Foundation

/// Runs SQL on a database file outside the store, to damage or inspect it the way another program could.
func executeRawSQL(_ sql: String, path: String) throws -> [[String]] {
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

struct RawSQLiteError: Error {
    var message: String
}
