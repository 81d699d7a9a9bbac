/// Where a projection's checkpoint (the position of the last event it applied) is kept, which decides its delivery
/// guarantee after a crash.
public enum ProjectionCheckpointStorage: Hashable, Sendable {
    /// The runner saves the checkpoint in the event store (``EventStore/saveCheckpoint(_:for:)``) after each batch
    /// the projection applied. A crash between applying a batch and saving its checkpoint delivers that batch again
    /// on restart: delivery is at least once, so ``Projection/apply(_:)`` must be idempotent.
    case eventStore
    /// The projection stores the position of the last event it applied itself, in the same transaction as its read
    /// model, and reports it from ``Projection/position()``. Delivery is then exactly once: after a crash the read
    /// model and the position agree, whichever of them survived.
    case projection
}
