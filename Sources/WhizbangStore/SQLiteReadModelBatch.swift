/// A transaction of read model work the writer committed: a batch of events applied to one generation of a read
/// model. Tests observe these through `SQLiteEventStore.Configuration.readModelBatchCommitted`.
package struct SQLiteReadModelBatch: Sendable, Equatable {
    /// The read model's name.
    package var name: String
    /// The generation of rows the batch wrote.
    package var generation: Int64
    /// The position the batch started after.
    package var from: UInt64
    /// The position of the last event the batch applied.
    package var to: UInt64
    /// The head of the log in the batch's transaction.
    package var head: UInt64
    /// Whether the batch made the generation the one served (or it already was and caught up).
    package var isLive: Bool
}
