import Whizbang
import WhizbangStore

/// Which ledger a store holds: a random number the sample writes into the ledger as the checkpoint of a consumer name
/// of its own, and that an ack log names in its first line (``AckLogHeader``), so that an ack log is only ever added
/// to, or checked against, the ledger whose acknowledgements it holds.
///
/// A ledger gets one when `run` creates it or `import` writes it, in the same transaction or restore. A ledger an
/// older version of the sample made, or a store the sample did not create that `run --keep` adds to, has none until
/// a run with `--ack-log` writes to it: that run gives it one before its first acknowledgement. A copy of a ledger's
/// file carries the same identity; an export imported elsewhere gets a new one.
enum LedgerIdentity {
    /// The consumer name whose checkpoint holds the identity.
    static let consumer = "whizbang-sample.ledger-identity"

    /// A new identity: never 0, and within what a checkpoint can hold.
    static func new() -> UInt64 {
        UInt64.random(in: 1...EventStoreValidation.maximumPosition)
    }

    /// The identity of the ledger in `store`; `nil` when it has none.
    static func read(in store: some EventStore) async throws -> UInt64? {
        try await store.checkpoint(for: consumer)
    }

    /// The identity of the ledger in the SQLite file at `path`, read without opening the store (nothing is made or
    /// changed beside the file): `.some(nil)` for a store without one, `nil` when the file cannot be read as a store.
    static func read(sqliteAt path: String) -> UInt64?? {
        try? SQLiteEventStore.checkpoint(for: consumer, inStoreAt: path)
    }

    /// The identity of the ledger in `store`, given one first if it has none (an older version's ledger, a store the
    /// sample did not create).
    static func readOrAssign(in store: some EventStore) async throws -> UInt64 {
        if let identity = try await read(in: store) { return identity }
        let identity = new()
        try await store.saveCheckpoint(identity, for: consumer)
        return identity
    }
}
