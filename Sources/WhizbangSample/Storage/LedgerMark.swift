import WhizbangStore

/// The sample's mark on a ledger it created: a checkpoint under a consumer name of its own, written right after the
/// store is created. `run` starts over only on a store that carries this mark as well as the store's own marks, so
/// that it never removes another program's store.
enum LedgerMark {
    /// The consumer name of the mark.
    static let consumer = "whizbang-sample.ledger"

    /// Marks a store the sample has just created.
    static func write(to store: some EventStore) async throws {
        try await store.saveCheckpoint(0, for: consumer)
    }

    /// Whether the store carries the mark.
    static func isPresent(in store: some EventStore) async throws -> Bool {
        try await store.checkpoint(for: consumer) != nil
    }
}
