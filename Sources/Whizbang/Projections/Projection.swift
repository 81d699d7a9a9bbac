/// A read model kept up to date from the global log of an event store, driven by a ``ProjectionRunner``.
///
/// A projection receives the events of the store in global order, in batches, through ``apply(_:)`` — every event,
/// or only those of the types it names in ``eventTypes`` — and forgets everything in ``reset()`` before a rebuild.
/// Its ``name`` identifies its checkpoint, so it must stay the same across restarts and be unique among the consumers
/// of one store.
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

    /// The types of the events the projection applies (``RecordedEvent/eventType``), or `nil` for every event.
    /// Default: `nil`.
    ///
    /// Naming them lets a runner skip the rest: ``apply(_:)`` then receives only events of these types, still in
    /// global order, and the checkpoint moves over the others; a batch without any of them is not applied at all.
    /// A store that can filter reads only these events (a cluster node's job on PostgreSQL does), so a process
    /// manager that reacts to one type of a busy log does not read the whole log.
    ///
    /// With ``ProjectionCheckpointStorage/projection``, the position the projection stores is that of the last event
    /// it applied, so a restart may read again the events of other types after it; they are skipped again.
    var eventTypes: Set<String>? { get }

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

    /// Every event: `nil`.
    public var eventTypes: Set<String>? { nil }

    /// Throws ``ProjectionError/Code/positionUnavailable``: implement it for projections that keep their own
    /// position.
    public func position() async throws -> UInt64 {
        throw ProjectionError(
            .positionUnavailable, projection: name,
            message: "checkpointStorage is .projection but the projection does not implement position()")
    }
}
