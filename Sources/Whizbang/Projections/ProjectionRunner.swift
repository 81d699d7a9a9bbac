public import Logging
public import ServiceLifecycle
import Synchronization

/// Keeps a ``Projection`` up to date: catches up from its checkpoint, then follows the store's global log live.
///
/// ``run()`` reads the log in batches of ``ProjectionRunnerConfiguration/batchSize`` events after the projection's
/// checkpoint, hands each batch to ``Projection/apply(_:)``, then saves the position of its last event as the new
/// checkpoint (in the store, or in the projection itself — see ``ProjectionCheckpointStorage``). Once caught up it
/// waits for new commits with ``EventStore/waitForEvents(after:)`` instead of polling. ``rebuild(progress:)`` resets
/// the read model and replays the log from the start. Tests wait for it with ``waitUntilCaughtUp()`` and
/// ``settled(upTo:)``.
///
/// As a ServiceLifecycle `Service`, ``run()`` returns on graceful shutdown or cancellation, never in the middle of a
/// batch it has started under graceful shutdown: the batch being applied is finished and its checkpoint saved first.
/// (Cancellation stops at once; a batch it interrupts is delivered again on the next run.)
///
/// ## Rebuilds survive crashes
/// A rebuild marks itself in progress in the store, under the checkpoint name ``rebuildMarkerName``, before it
/// resets the projection, and clears the mark once the projection has caught up. If the process dies mid-rebuild,
/// the next ``run()`` or ``rebuild(progress:)`` sees the mark: if the reset may not have finished it resets again;
/// otherwise it continues from the checkpoint. Either way the read model ends as a fresh full rebuild would leave it.
///
/// One runner does one thing at a time: ``run()`` and ``rebuild(progress:)`` throw
/// ``ProjectionError/Code/alreadyActive`` while the other is in progress. Do not run two runners of one projection.
///
/// Metrics (dimension `projection`): `whizbang_projection_lag_events` (gauge: head − checkpoint, measured after each
/// batch), `whizbang_projection_events_applied_total` (counter) and `whizbang_projection_batch_duration_seconds`
/// (timer: apply and checkpoint of one batch).
public final class ProjectionRunner<Store: EventStore>: Service, Sendable {
    /// The runner's configuration, under its former nested name.
    @available(*, deprecated, renamed: "ProjectionRunnerConfiguration")
    public typealias Configuration = ProjectionRunnerConfiguration

    /// The store whose log the projection follows.
    public let store: Store
    /// The projection kept up to date.
    public let projection: any Projection
    /// The configuration the runner was created with.
    public let configuration: ProjectionRunnerConfiguration
    /// The checkpoint name under which a rebuild in progress is marked: the projection's name followed by
    /// `"#rebuild"`. Do not use it as another consumer's name.
    public let rebuildMarkerName: String

    private let name: String
    private let checkpointStorage: ProjectionCheckpointStorage
    private let eventTypes: Set<String>?
    private let batchSize: Int
    private let logger: Logger
    private let metrics: ProjectionMetrics
    private let state = Mutex(ProjectionRunnerState())

    /// Creates a runner for `projection` over `store`; it does nothing until ``run()`` or ``rebuild(progress:)``.
    ///
    /// - Parameters:
    ///   - projection: the projection. Its ``Projection/name``, ``Projection/checkpointStorage`` and
    ///     ``Projection/eventTypes`` are read once, here.
    ///   - store: the store to follow.
    ///   - configuration: batch size.
    ///   - logger: where the runner logs, at debug and trace level. Default: a logger labelled
    ///     `whizbang.projection`.
    public init(
        projection: any Projection,
        store: Store,
        configuration: ProjectionRunnerConfiguration = ProjectionRunnerConfiguration(),
        logger: Logger? = nil
    ) {
        self.store = store
        self.projection = projection
        self.configuration = configuration
        self.name = projection.name
        self.rebuildMarkerName = projection.name + "#rebuild"
        self.checkpointStorage = projection.checkpointStorage
        self.eventTypes = projection.eventTypes
        self.batchSize = Swift.max(1, configuration.batchSize)
        var logger = logger ?? Logger(label: "whizbang.projection")
        logger[metadataKey: "projection"] = "\(projection.name)"
        self.logger = logger
        self.metrics = ProjectionMetrics(projection: projection.name)
    }

    /// The position of the last event the projection applied, as far as this runner knows; `nil` before it has
    /// loaded the checkpoint.
    public var appliedPosition: UInt64? {
        state.withLock { $0.position }
    }

    /// Catches the projection up from its checkpoint, then follows the log, until graceful shutdown or cancellation.
    ///
    /// Checks between batches for graceful shutdown and cancellation; after either it returns normally, with the
    /// checkpoint of every batch it applied saved and ``appliedPosition`` at the last of them. (While it completes a
    /// marked rebuild, a batch's position is published only after the runner has read whether the rebuild caught up,
    /// so that a caller waiting for the last one finds the mark cleared: a cancellation in that read leaves
    /// ``appliedPosition`` a batch behind the checkpoint.) A cancellation that a read of the store or the projection
    /// itself reports (`CancellationError`) ends it the same way; a batch it interrupts is not checkpointed and is
    /// delivered again by the next run. If an interrupted rebuild is marked, it is completed first (see the type's
    /// documentation).
    ///
    /// - Throws: ``ProjectionError/Code/alreadyActive`` if the runner is already running or rebuilding; an error
    ///   thrown by the projection or the store, which stops the runner (the batch that failed is not checkpointed,
    ///   so it is delivered again by the next run). The configuration's status board records it.
    public func run() async throws {
        try begin(.running)
        defer { end() }
        try await reportingStatus(.running) { try await follow() }
    }

    /// The work of ``run()``: completes a marked rebuild, catches up, then follows the log. Returns normally once the
    /// task is cancelled, also when a read or the projection throws `CancellationError` for it.
    private func follow() async throws {
        do {
            try await catchUpAndFollow()
        } catch is CancellationError where Task.isCancelled {
            logger.debug("projection stopping: cancelled", metadata: ["position": "\(appliedPosition ?? 0)"])
        }
    }

    private func catchUpAndFollow() async throws {
        var marker = try await store.checkpoint(for: rebuildMarkerName) ?? RebuildMarker.none
        if marker == RebuildMarker.resetting {
            logger.debug("an interrupted rebuild had not finished its reset; resetting again")
            try await resetForRebuild()
            marker = RebuildMarker.replaying
        }
        var position = try await loadPosition()
        logger.debug("projection starting", metadata: ["position": "\(position)"])
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let batch = try await store.readAll(after: position, limit: batchSize)
            if batch.isEmpty {
                metrics.recordLag(0)
                if marker != RebuildMarker.none {
                    try await store.saveCheckpoint(RebuildMarker.none, for: rebuildMarkerName)
                    marker = RebuildMarker.none
                    logger.debug("rebuild completed", metadata: ["position": "\(position)"])
                }
                guard try await waitForEvents(after: position) else { break }
                continue
            }
            position = try await applyBatch(batch).position
            // Published at once unless a rebuild mark is to be cleared first, so that a cancellation in the reads
            // below leaves the applied position as saved.
            if marker == RebuildMarker.none { publish(position) }
            var caughtUp = batch.count < batchSize
            if caughtUp {
                metrics.recordLag(0)
            } else {
                let head = try await store.headPosition()
                metrics.recordLag(head: head, position: position)
                caughtUp = head <= position
            }
            if caughtUp, marker != RebuildMarker.none {
                try await store.saveCheckpoint(RebuildMarker.none, for: rebuildMarkerName)
                marker = RebuildMarker.none
                logger.debug("rebuild completed", metadata: ["position": "\(position)"])
            }
            // During a rebuild, published after its mark is cleared (when this batch caught up), so a caller that
            // waited for this position sees it gone. Publishing a position again changes nothing.
            publish(position)
        }
        logger.debug("projection stopping", metadata: ["position": "\(position)"])
    }

    /// Deletes the read model and replays the log from the start up to its current head, reporting progress after
    /// each batch.
    ///
    /// Order of work: mark the rebuild in progress (in the store, under ``rebuildMarkerName``), call
    /// ``Projection/reset()``, set the checkpoint to 0, replay in batches saving the checkpoint after each, clear the
    /// mark. If a previous rebuild was interrupted after its reset, this one continues from that rebuild's
    /// checkpoint instead of starting over; the result is the same. Events appended after the rebuild started are
    /// left to the next ``run()``.
    ///
    /// - Parameter progress: called with the position reached and the head being replayed to: once before the first
    ///   batch and after each batch (after its checkpoint is saved). An error it throws stops the rebuild, which
    ///   resumes from there when the runner next starts.
    /// - Throws: ``ProjectionError/Code/alreadyActive`` if the runner is already running or rebuilding;
    ///   `CancellationError` if the task is cancelled (checked between batches); the projection's or the store's
    ///   errors. After any error the rebuild stays marked, so that the next ``run()`` or `rebuild` completes it.
    public func rebuild(progress: (ProjectionRebuildProgress) async throws -> Void = { _ in }) async throws {
        try begin(.rebuilding)
        defer { end() }
        try await reportingStatus(.rebuilding) { try await replayFromStart(progress: progress) }
    }

    /// The work of ``rebuild(progress:)``.
    private func replayFromStart(progress: (ProjectionRebuildProgress) async throws -> Void) async throws {
        let marker = try await store.checkpoint(for: rebuildMarkerName) ?? RebuildMarker.none
        if marker == RebuildMarker.replaying {
            logger.debug("resuming an interrupted rebuild")
        } else {
            try await resetForRebuild()
        }
        let head = try await store.headPosition()
        var position = try await loadPosition()
        var applied = 0
        logger.debug("rebuild starting", metadata: ["position": "\(position)", "head": "\(head)"])
        let start = ProjectionRebuildProgress(position: position, head: head, eventsApplied: 0)
        try await asOwnWork { try await progress(start) }
        while position < head {
            try Task.checkCancellation()
            let limit = Int(Swift.min(UInt64(batchSize), head - position))
            let batch = try await store.readAll(after: position, limit: limit)
            guard !batch.isEmpty else { break }
            let result = try await applyBatch(batch)
            position = result.position
            publish(position)
            applied += result.applied
            metrics.recordLag(head: head, position: position)
            try await asOwnWork {
                try await progress(ProjectionRebuildProgress(position: position, head: head, eventsApplied: applied))
            }
        }
        try await store.saveCheckpoint(RebuildMarker.none, for: rebuildMarkerName)
        logger.debug("rebuild completed", metadata: ["position": "\(position)", "events": "\(applied)"])
    }

    /// Returns once the projection has applied every event up to `position`, at once if it already has.
    ///
    /// Use it to read your own writes: pass the last position of an append (``AppendResult/positions``) and read the
    /// projection after this returns. A wait started before the runner's first ``run()`` waits for it.
    ///
    /// A wait from inside the runner's own work (its projection's ``Projection/apply(_:)`` or
    /// ``Projection/reset()``, a rebuild's progress) for a position not yet applied could never end, since the runner
    /// applies nothing more until that work returns: it fails at once. So does one from a task started there, which
    /// inherits the mark (a task-local value); start such a task with `Task.detached` to wait after the work returns.
    ///
    /// - Throws: `CancellationError` if the task is cancelled first; ``ProjectionError/Code/stopped`` if the runner
    ///   stops (returns or throws) before reaching `position`, or has stopped and not run again when the wait starts;
    ///   ``ProjectionError/Code/reentrantWait`` for a wait from inside the runner's own work, as above.
    public func waitUntilApplied(through position: UInt64) async throws {
        if ProjectionRunnerWork.runners.contains(ObjectIdentifier(self)),
            state.withLock({ ($0.position ?? 0) < position })
        {
            throw ProjectionError(
                .reentrantWait, projection: name, position: position,
                message: "a wait for position \(position) from inside the runner's own work (its projection's apply, "
                    + "or a rebuild's progress), which must return before the runner applies anything more")
        }
        let id = state.withLock { $0.makeWaiterID() }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let action = state.withLock {
                    $0.wait(id: id, for: position, continuation: continuation, isCancelled: Task.isCancelled)
                }
                switch action {
                case .resume: continuation.resume()
                case .wait: break
                case .cancel: continuation.resume(throwing: CancellationError())
                case .stopped: continuation.resume(throwing: stoppedError(before: position))
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.cancelWaiter(id: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    // MARK: - Steps

    private func begin(_ activity: ProjectionRunnerState.Activity) throws(ProjectionError) {
        guard state.withLock({ $0.start(activity) }) else {
            throw ProjectionError(
                .alreadyActive, projection: name, message: "the runner is already running or rebuilding")
        }
    }

    /// Runs `body` with `state` on the status board, then records `stopped` (also after the task's cancellation), or
    /// `failed` with the error it threw, a `CancellationError` of the projection's own (its task not cancelled)
    /// included.
    private func reportingStatus(
        _ state: ProjectionStatus.State, _ body: () async throws -> Void
    ) async throws {
        let board = configuration.statusBoard
        board?.record(state, for: name)
        do {
            try await body()
            board?.record(.stopped, for: name)
        } catch is CancellationError where Task.isCancelled {
            board?.record(.stopped, for: name)
            throw CancellationError()
        } catch {
            board?.record(.failed, for: name, error: error)
            throw error
        }
    }

    /// Runs `body` marked as this runner's own work, so that a wait on this runner from inside it fails at once
    /// (``ProjectionError/Code/reentrantWait``) instead of waiting for work that cannot go on until it returns.
    private func asOwnWork(_ body: () async throws -> Void) async throws {
        try await ProjectionRunnerWork.$runners.withValue(ProjectionRunnerWork.runners + [ObjectIdentifier(self)]) {
            try await body()
        }
    }

    private func end() {
        let waiters = state.withLock { $0.stop() }
        for waiter in waiters { waiter.continuation.resume(throwing: stoppedError(before: waiter.target)) }
    }

    private func stoppedError(before target: UInt64) -> ProjectionError {
        ProjectionError(
            .stopped, projection: name, position: target,
            message: "the runner stopped before the projection reached position \(target)")
    }

    private func publish(_ position: UInt64) {
        let satisfied = state.withLock { $0.setPosition(position) }
        for waiter in satisfied { waiter.continuation.resume() }
    }

    private func loadPosition() async throws -> UInt64 {
        let position: UInt64
        switch checkpointStorage {
        case .eventStore: position = try await store.checkpoint(for: name) ?? 0
        case .projection: position = try await projection.position()
        }
        publish(position)
        return position
    }

    private func resetForRebuild() async throws {
        try await store.saveCheckpoint(RebuildMarker.resetting, for: rebuildMarkerName)
        try await asOwnWork { try await projection.reset() }
        if checkpointStorage == .eventStore {
            try await store.saveCheckpoint(0, for: name)
        }
        try await store.saveCheckpoint(RebuildMarker.replaying, for: rebuildMarkerName)
        publish(0)
        logger.debug("projection reset for a rebuild")
    }

    /// Applies a batch's events of the projection's types, saves its checkpoint and returns the position of its
    /// last event, which the caller publishes, and the number of events applied.
    private func applyBatch(_ batch: [RecordedEvent]) async throws -> (position: UInt64, applied: Int) {
        let start = ContinuousClock.now
        let applied = eventTypes.map { types in batch.filter { types.contains($0.eventType) } } ?? batch
        if !applied.isEmpty { try await asOwnWork { try await projection.apply(applied) } }
        let last = batch[batch.count - 1].position
        if checkpointStorage == .eventStore {
            try await store.saveCheckpoint(last, for: name)
        }
        metrics.recordBatch(count: applied.count, duration: ContinuousClock.now - start)
        logger.trace("batch applied", metadata: ["events": "\(applied.count)", "position": "\(last)"])
        return (last, applied.count)
    }

    /// Waits for an event after `position`; `false` if graceful shutdown or cancellation came first.
    private func waitForEvents(after position: UInt64) async throws -> Bool {
        let store = self.store
        do {
            try await cancelWhenGracefulShutdown { try await store.waitForEvents(after: position) }
            return true
        } catch is CancellationError {
            return false
        }
    }
}

/// The values of the rebuild marker checkpoint.
private enum RebuildMarker {
    /// No rebuild in progress.
    static let none: UInt64 = 0
    /// A rebuild started; the reset may not have finished.
    static let resetting: UInt64 = 1
    /// The reset finished and the checkpoint is back at 0: the replay continues from the checkpoint.
    static let replaying: UInt64 = 2
}

/// The runners whose own work the current task is doing (``ProjectionRunner``'s `asOwnWork`): a task-local value
/// cannot be a stored property of a generic type.
enum ProjectionRunnerWork {
    @TaskLocal static var runners: [ObjectIdentifier] = []
}
