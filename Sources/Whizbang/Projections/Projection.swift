/// A read model kept up to date from the global log of an event store, driven by a ``ProjectionRunner``.
///
/// A projection receives every event of the store in global order, in batches, through ``apply(_:)``, and forgets
/// everything in ``reset()`` before a rebuild. Its ``name`` identifies its checkpoint, so it must stay the same
/// across restarts and be unique among the consumers of one store.
///
/// ## Delivery guarantees
/// Where the checkpoint lives decides what a crash does (see ``checkpointStorage``):
/// - ``ProjectionCheckpointStorage/eventStore`` (the default): the runner saves the position after each applied
///   batch. If the process dies after ``apply(_:)`` changed the read model but before the checkpoint was saved, the
///   batch is applied again on restart — **``apply(_:)`` must be idempotent** (an upsert keyed by id, "set balance to
///   X", or skipping events at or below a position kept in the read model).
/// - ``ProjectionCheckpointStorage/projection``: the projection stores the position of the last event of each batch
///   atomically with the read model (for example in the same database transaction) and returns it from
///   ``position()``; ``reset()`` sets it back to 0 with the read model. Each event is then applied exactly once.
///
/// The runner never calls two methods of one projection at the same time.
public protocol Projection: Sendable {
    /// A stable, unique name, used as the projection's checkpoint consumer name in the store. Never change it once
    /// checkpoints are stored: a new name starts over from the beginning of the log.
    var name: String { get }

    /// Where the projection's checkpoint is kept. Default: ``ProjectionCheckpointStorage/eventStore``.
    var checkpointStorage: ProjectionCheckpointStorage { get }

    /// Applies a batch of events, in global order (strictly increasing positions, without gaps the store has not).
    ///
    /// A thrown error stops the runner without saving a checkpoint for this batch, so the batch is delivered again
    /// when the runner next starts. With ``ProjectionCheckpointStorage/projection``, store the position of the last
    /// event in the batch in the same transaction as the read model changes.
    func apply(_ events: [RecordedEvent]) async throws

    /// Deletes the read model, before a rebuild replays the log from the start. Must be idempotent: a rebuild that
    /// was interrupted may call it again. With ``ProjectionCheckpointStorage/projection``, also set the stored
    /// position back to 0, atomically with the read model.
    func reset() async throws

    /// The position of the last event applied, stored with the read model; 0 if none. Called only when
    /// ``checkpointStorage`` is ``ProjectionCheckpointStorage/projection``; the default throws
    /// ``ProjectionError/Code/positionUnavailable``.
    func position() async throws -> UInt64
}

extension Projection {
    /// The checkpoint is kept in the event store.
    public var checkpointStorage: ProjectionCheckpointStorage { .eventStore }

    /// Throws ``ProjectionError/Code/positionUnavailable``: implement it for projections that keep their own
    /// position.
    public func position() async throws -> UInt64 {
        throw ProjectionError(
            .positionUnavailable, projection: name,
            message: "checkpointStorage is .projection but the projection does not implement position()")
    }
}
