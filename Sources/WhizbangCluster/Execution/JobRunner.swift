import Logging
import PostgresNIO
import Whizbang
import WhizbangPostgres

/// Runs one leased job — a projection or a process manager — on the node that claimed it: reads the global log after
/// the job's checkpoint, applies each batch, and moves the checkpoint in a write fenced by the claim's epoch, so that
/// an owner that was paused or cut off past its lease cannot move it once another node has claimed the job.
///
/// Delivery is at least once: a batch applied by an owner that then died, or was fenced, is applied again by the
/// next owner from the checkpoint. A process manager's commands therefore carry ids derived from the job's name and
/// the event's id (``ClusterClient/commandID(job:event:step:)``), so that the inbox runs each of them once.
struct JobRunner: Sendable {
    let store: PostgresEventStore
    let job: any Projection
    let configuration: ClusterConfiguration
    let nodeID: String
    let member: String
    let schema: String
    /// How often the checkpoint moves over events of other types while no batch is applied; `nil` for the
    /// configuration's poll interval.
    var skippedEventsCheckpointInterval: Duration? = nil

    /// How a runner ended.
    enum Ending: Sendable, Equatable {
        /// The node is stopping, or the job is being released or is no longer the node's.
        case stopped
        /// The fence refused the checkpoint write: another node claimed the job.
        case fenced
    }

    /// Moves the job's checkpoint forward to `to` if the job is still this member's at `epoch`; `from` is where the
    /// runner last stored it.
    ///
    /// The update runs in a transaction of its own and counts only once `COMMIT` has answered: run alone, it would
    /// commit after being reported, and a commit failing then would leave the runner believing a move that never
    /// happened. A stored checkpoint past `from` is one of this runner's own moves whose answer was lost (a commit
    /// whose reply did not arrive): it is kept if it is past `to`, and the write is no fence rejection.
    ///
    /// - Returns: `false` when the fence refused the write (nothing was written).
    func commitCheckpoint(epoch: Int64, from: UInt64, to: UInt64) async throws -> Bool {
        let (schema, member, name) = (self.schema, self.member, job.name)
        let (from, to) = (Int64(from), Int64(to))
        let bounds = TransactionBounds(store: store.configuration, cluster: configuration)
        return try await store.withTrustedConnection { connection, logger in
            try await connection.withStoreTransaction(logger: logger) {
                try await bounds.apply(on: connection, logger: logger)
                return try await connection.rows(
                    """
                    UPDATE \(unescaped: schema).jobs SET checkpoint = greatest(checkpoint, \(to))
                    WHERE name = \(name) AND owner = \(member) AND epoch = \(epoch) AND checkpoint >= \(from)
                    RETURNING 1
                    """, logger: logger
                ).count == 1
            }
        }
    }

    /// Records a refused checkpoint write for operators and tests; best effort.
    func recordRejection(epoch: Int64, checkpoint: UInt64) async {
        let (schema, member, name) = (self.schema, self.member, job.name)
        let position = Int64(checkpoint)
        do {
            _ = try await store.withTrustedConnection { connection, logger in
                try await connection.run(
                    """
                    INSERT INTO \(unescaped: schema).job_log (name, owner, epoch, action, checkpoint)
                    VALUES (\(name), \(member), \(epoch), 'fenced', \(position))
                    """, logger: logger)
            }
        } catch {
            configuration.logger.debug("could not record a job's fence rejection", metadata: ["error": "\(error)"])
        }
    }

    /// Runs the job from `checkpoint` while `mayContinue` says so before each batch, waiting on `wake` (or the poll
    /// interval) when the log has nothing new. A failed read, apply or checkpoint write is logged and the batch is
    /// tried again after a pause; only the fence or `mayContinue` ends the runner.
    ///
    /// A job that names its event types (`Projection.eventTypes`) reads only those. The checkpoint moves with every
    /// batch it applies; over a stretch of other events it moves at most once a poll interval (and within two of the
    /// log going quiet), so a new owner reads again at most that stretch, and skips it again.
    func run(epoch: Int64, from checkpoint: UInt64, wake: Wakeup, mayContinue: @Sendable () -> Bool) async -> Ending {
        let logger = configuration.logger
        let metadata: Logger.Metadata = ["node": "\(nodeID)", "job": "\(job.name)", "epoch": "\(epoch)"]
        let eventTypes = job.eventTypes
        let interval = skippedEventsCheckpointInterval ?? configuration.pollInterval
        var position = checkpoint
        var stored = checkpoint
        var storedAt = ContinuousClock.now
        var failures = 0
        logger.debug("job started", metadata: metadata.merging(["checkpoint": "\(position)"]) { $1 })
        while mayContinue() && !Task.isCancelled {
            do {
                let (events, through) = try await read(after: position, eventTypes: eventTypes)
                if !events.isEmpty { try await job.apply(events) }
                let due = !events.isEmpty || ContinuousClock.now - storedAt >= interval
                if stored < through && due {
                    guard try await commitCheckpoint(epoch: epoch, from: stored, to: through) else {
                        logger.warning(
                            "fence rejected a job's checkpoint: another node claimed the job",
                            metadata: metadata.merging(["checkpoint": "\(stored)", "refused": "\(through)"]) { $1 })
                        await recordRejection(epoch: epoch, checkpoint: through)
                        return .fenced
                    }
                    (stored, storedAt) = (through, ContinuousClock.now)
                }
                failures = 0
                if through == position {
                    await wake.wait(upTo: configuration.pollInterval)
                }
                position = through
            } catch {
                if !mayContinue() || Task.isCancelled { break }
                failures += 1
                logger.warning(
                    "a job's batch failed; it is applied again",
                    metadata: metadata.merging(["checkpoint": "\(position)", "error": "\(error)"]) { $1 })
                await wake.wait(upTo: min(configuration.pollInterval, .milliseconds(50) * (1 << min(failures, 5))))
            }
        }
        logger.debug("job stopped", metadata: metadata.merging(["checkpoint": "\(position)"]) { $1 })
        return .stopped
    }

    /// The job's next batch after `position` and the position it covers: the last event's, or, for a job of some
    /// event types, the end of the stretch read (its other events skipped).
    private func read(after position: UInt64, eventTypes: Set<String>?) async throws
        -> (events: [RecordedEvent], through: UInt64)
    {
        if let eventTypes {
            return try await store.readAll(
                after: position, limit: configuration.maximumBatchSize, eventTypes: eventTypes)
        }
        let events = try await store.readAll(after: position, limit: configuration.maximumBatchSize)
        return (events, events.last?.position ?? position)
    }
}
