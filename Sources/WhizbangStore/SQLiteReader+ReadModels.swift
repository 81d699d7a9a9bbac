import Whizbang

extension SQLiteReader {
    /// A read model's state, the head of the log, and rows of its served generation, read in one transaction.
    struct ReadModelSnapshot: Sendable {
        var state: SQLiteReadModelState?
        var head: UInt64
        var rows: [ReadModelRow]
    }

    /// Reads read model `name`'s state and head and, when a generation is served, the rows `query` selects (or the
    /// row under `key`), all in one read transaction: a swap of generations is seen whole or not at all.
    func readModelSnapshot(_ name: String, key: String? = nil, query: ReadModelQuery? = nil) throws(SQLiteError)
        -> ReadModelSnapshot
    {
        try connection.execute("BEGIN")
        do {
            let snapshot = try readModelSnapshotInTransaction(name, key: key, query: query)
            try connection.execute("COMMIT")
            return snapshot
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    private func readModelSnapshotInTransaction(_ name: String, key: String?, query: ReadModelQuery?)
        throws(SQLiteError) -> ReadModelSnapshot
    {
        let stateStatement = try statement(SQLiteReadModels.selectStateSQL)
        stateStatement.bind(name, at: 1)
        let state = try stateStatement.step() ? SQLiteReadModels.state(from: stateStatement) : nil
        stateStatement.reset()
        var snapshot = ReadModelSnapshot(state: state, head: try headPosition(), rows: [])
        guard let generation = state?.servedGeneration else { return snapshot }
        let columns = "SELECT key, index_value, position, body FROM read_model_rows"
        let rowsStatement: SQLiteStatement
        if let key {
            rowsStatement = try statement("\(columns) WHERE model = ?1 AND generation = ?2 AND key = ?3")
            rowsStatement.bind(key, at: 3)
        } else if let query {
            var sql = "\(columns) WHERE model = ?1 AND generation = ?2"
            if query.keysFrom != nil { sql += " AND key >= ?3" }
            if query.keysBefore != nil { sql += " AND key < ?4" }
            if query.after != nil { sql += " AND key > ?5" }
            if query.indexValue != nil { sql += " AND index_value = ?6" }
            sql += " ORDER BY key LIMIT ?7"
            rowsStatement = try statement(sql)
            if let keysFrom = query.keysFrom { rowsStatement.bind(keysFrom, at: 3) }
            if let keysBefore = query.keysBefore { rowsStatement.bind(keysBefore, at: 4) }
            if let after = query.after { rowsStatement.bind(after, at: 5) }
            if let indexValue = query.indexValue { rowsStatement.bind(indexValue, at: 6) }
            rowsStatement.bind(Int64(query.limit), at: 7)
        } else {
            return snapshot
        }
        defer { rowsStatement.reset() }
        rowsStatement.bind(name, at: 1)
        rowsStatement.bind(generation, at: 2)
        while try rowsStatement.step() {
            snapshot.rows.append(
                ReadModelRow(
                    key: rowsStatement.text(at: 0),
                    indexValue: rowsStatement.isNull(at: 1) ? nil : rowsStatement.text(at: 1),
                    position: rowsStatement.uint64(at: 2), body: rowsStatement.data(at: 3)))
        }
        return snapshot
    }
}
