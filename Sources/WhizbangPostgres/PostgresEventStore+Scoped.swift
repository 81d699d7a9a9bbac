extension PostgresEventStore {
    /// Creates a store, runs it for as long as `body` runs, and closes it when `body` returns or throws: the shape
    /// for a program or a test that needs a store for one piece of work, without a `ServiceGroup`.
    ///
    /// ```swift
    /// let report = try await PostgresEventStore.withRunningStore(configuration: configuration) { store in
    ///     try await run(on: store)
    /// }
    /// ```
    ///
    /// `body`'s calls wait for the store to connect and prepare its schema; if it cannot (``run()`` fails), they fail
    /// with its error. When `body` has finished, the store is closed and this method waits for ``run()`` to return
    /// (its waits are bounded), so nothing of the store outlives the call.
    ///
    /// - Parameters:
    ///   - configuration: the store's configuration.
    ///   - body: the work, given the running store. Do not keep the store beyond it: it is closed afterwards.
    /// - Returns: what `body` returned.
    /// - Throws: what `body` throws; otherwise the error ``run()`` ended with, or `EventStoreError` if the
    ///   configuration is invalid.
    public static func withRunningStore<Result>(
        configuration: Configuration,
        _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        let store = try PostgresEventStore(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
            group.addTask { try await store.run() }
            let result: Result
            do {
                result = try await body(store)
            } catch {
                store.close()
                // The body's error is the one to report; the store's own ending is only waited for.
                while case .some = try? await group.next() {}
                throw error
            }
            store.close()
            try await group.waitForAll()
            return result
        }
    }
}
