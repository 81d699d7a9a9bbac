extension SQLiteSchema {
    /// The schema objects in the store's database on `connection` that the store did not create, in words for a
    /// person (`table notes`, `view totals`, `index by_type on events`, `trigger audit on events`, `column note on
    /// events`), sorted; empty when the database holds the store and nothing else.
    ///
    /// The store's own objects are those its migrations make up to the database's schema version, found by running
    /// them on a database in memory (so a table named as a later version's is someone else's); SQLite's own
    /// (`sqlite_autoindex_...`, `sqlite_stat1`, `sqlite_sequence`) count as the store's. A column added to one of the
    /// store's tables is someone's data too, and is named.
    ///
    /// - Throws: what ``version(of:)`` throws for a database that is not a store; the connection's errors.
    static func objectsNotCreated(on connection: SQLiteConnection) throws -> [String] {
        guard let version = try version(of: connection) else { return [] }
        let reference = try SQLiteConnection(path: ":memory:", busyTimeoutMilliseconds: 0, inMemory: true)
        defer { reference.close() }
        _ = try migrateInTransaction(reference, nowMicroseconds: 0, upTo: version)
        // Indexes and triggers with the table they belong to: one of the store's names on another table is not its.
        let objects = """
            SELECT type || ' ' || name || CASE WHEN type IN ('index', 'trigger') THEN ' on ' || tbl_name ELSE '' END
            FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
            """
        let own = Set(try reference.queryTexts(objects))
        var others = try connection.queryTexts(objects).filter { !own.contains($0) }
        for table in try reference.queryTexts("SELECT name FROM sqlite_schema WHERE type = 'table'") {
            // The store's table names are its own words, quoted as they are.
            let columns = "SELECT name FROM pragma_table_xinfo('\(table)')"
            let ownColumns = Set(try reference.queryTexts(columns))
            others += try connection.queryTexts(columns).filter { !ownColumns.contains($0) }
                .map { "column \($0) on \(table)" }
        }
        return others.sorted()
    }

    /// `names` for a message: the first five, then how many more there are.
    static func listed(_ names: [String]) -> String {
        let shown = names.prefix(5).joined(separator: ", ")
        return names.count > 5 ? "\(shown), and \(names.count - 5) more" : shown
    }
}
