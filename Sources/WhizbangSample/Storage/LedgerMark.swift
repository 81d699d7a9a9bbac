import WhizbangStore

/// The sample's mark on a ledger it created: a checkpoint under a consumer name of its own, written in the transaction
/// that creates the store (on PostgreSQL its value is the creating run's own number; on SQLite it is 0). `run` starts over only on a store that carries this mark as well as the store's own marks, so
/// that it never removes another program's store.
enum LedgerMark {
    /// The consumer name of the mark.
    static let consumer = "whizbang-sample.ledger"

    /// The consumer name of the mark `import` leaves instead: the events are a user's, from a file that may be gone,
    /// so `run` adds to an imported log (`--keep`) but never starts it over.
    static let importConsumer = "whizbang-sample.import"

    /// Whether the store carries the mark.
    static func isPresent(in store: some EventStore) async throws -> Bool {
        try await store.checkpoint(for: consumer) != nil
    }
}
