import Logging

extension SQLiteWriter {
    /// Whether a read model batch has work to do; read on the writer thread only.
    var hasReadModelWork: Bool {
        readModels?.hasWork ?? false
    }

    /// Runs one read model batch in a transaction of its own, between group commits, then wakes the tasks waiting
    /// for read models. A failed transaction is rolled back and the states are read again before the next one.
    func runReadModelBatch() {
        guard let readModels else { return }
        var batch: SQLiteReadModelBatch?
        do throws(SQLiteError) {
            try statements.begin.execute()
            try invalidateStreamCacheIfChanged()
            batch = try readModels.runBatch()
            try readModels.flush()
            try statements.commit.execute()
        } catch {
            if connection.isInTransaction { try? statements.rollback.execute() }
            streamCache.removeAll()
            readModelsNeedReload = true
            logger.warning("read model batch failed", metadata: ["error": "\(error)"])
            // A storage failure would fail the next batch the same way at once: try again a little later, or at the
            // next append.
            readModels.pauseAfterFailure()
            return
        }
        readModelSignal.advance(to: readModelSignal.head + 1)
        if let batch {
            logger.trace(
                "read model batch",
                metadata: ["readModel": "\(batch.name)", "from": "\(batch.from)", "to": "\(batch.to)"])
            readModels.report(batch)
        }
    }
}
