import Whizbang

extension SQLiteReaderPool {
    /// Folds up to `limit` events after `position` into `initialState` on a reader thread, lending each row to
    /// `update`; see ``SQLiteEventStore/reduceAll(after:limit:into:_:)``.
    ///
    /// SQLite errors come back as `EventStoreError`; an error `update` throws ends the read and comes back as it was.
    func reduceAll<State: Sendable>(
        after position: UInt64,
        limit: Int,
        into initialState: State,
        _ update: @escaping @Sendable (inout State, SQLiteEventRow) throws -> Void
    ) async throws -> State {
        let outcome = try await read { reader throws(SQLiteError) -> Result<State, any Error> in
            var state = initialState
            do {
                try reader.reduceAll(after: position, limit: limit, into: &state, update)
                return .success(state)
            } catch let error as SQLiteError {
                throw error
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}
