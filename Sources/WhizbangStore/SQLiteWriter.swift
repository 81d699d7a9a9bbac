import CWhizbangSQLite
import Foundation
import Logging
import Whizbang

/// The one writer connection and the thread it runs on: group commit.
///
/// Callers queue requests with ``submit(_:)``; the thread takes every pending request (up to the configured
/// maximum), runs them in one `BEGIN IMMEDIATE` transaction, commits, announces the new head to the
/// ``AppendSignal`` and only then resumes the callers. While it commits, new requests gather for the next
/// transaction, so one fsync serves them all.
///
/// A failed request undoes only its own writes. Most requests need no `SAVEPOINT` for that: a conflict is decided
/// before anything is written, and a request that writes with one statement (one event appended to a known stream,
/// a checkpoint, a snapshot) is undone by SQLite's statement rollback. Only an append that creates its stream or
/// writes several events takes a savepoint. The writer keeps each stream's key and version in ``streamCache``;
/// it is emptied whenever `PRAGMA data_version` shows that another connection committed, and after a failed
/// transaction.
///
/// `@unchecked Sendable`: the queue is guarded by `condition`; the connection and statements are used only by the
/// writer thread once it has started.
final class SQLiteWriter: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [SQLiteWriteRequest] = []
    private var isClosing = false
    private var isFinished = false
    /// The head another process appended up to, noted and not yet handed to the read models; 0 when none.
    private var externalHead: UInt64 = 0

    let connection: SQLiteConnection
    let statements: Statements
    let signal: AppendSignal
    let logger: Logger
    private let maximumBatchSize: Int
    /// How long the writer waits for the maintenance thread's checkpoint before running its own at a bound.
    private let busyTimeout: TimeInterval
    private var walHookContext: WALHookContext?
    /// Stream key and version by stream id, as of the current transaction; see the type's notes.
    var streamCache: [StreamID: CachedStream] = [:]
    /// The most streams ``streamCache`` holds before it is emptied.
    let streamCacheLimit = 65_536
    /// `PRAGMA data_version` when the cache was last known to be current.
    private var dataVersion: Int64 = -1
    /// The connection's WAL gathering when it was opened through ``SQLiteGatheringVFS``.
    let walGathering: SQLiteWALGathering?
    /// Read models updated inside each append's savepoint.
    let inlineProjections: [any SQLiteInlineProjection]
    /// The inline projections' statements, prepared once by SQL text.
    private var projectionStatements: [String: SQLiteStatement] = [:]
    /// The registered read models; `nil` when there are none, so appends pay nothing for them.
    let readModels: SQLiteReadModels?
    /// Advanced after every commit that may have changed a read model, for
    /// ``SQLiteEventStore/waitForReadModel(named:toReach:timeout:)``.
    let readModelSignal: AppendSignal
    /// Whether the database must be read again before the next read model batch (a transaction failed).
    var readModelsNeedReload = false

    init(
        connection: SQLiteConnection, signal: AppendSignal, configuration: SQLiteEventStore.Configuration,
        readModels: SQLiteReadModels?, readModelSignal: AppendSignal
    ) throws(SQLiteError) {
        self.readModels = readModels
        self.readModelSignal = readModelSignal
        self.connection = connection
        self.statements = try Statements(connection)
        self.signal = signal
        self.logger = configuration.logger
        self.maximumBatchSize = max(1, configuration.maximumBatchSize)
        let (seconds, attoseconds) = configuration.busyTimeout.components
        self.busyTimeout = Double(seconds) + Double(attoseconds) / 1e18
        self.inlineProjections = configuration.inlineProjections
        self.walGathering = SQLiteGatheringVFS.gathering(of: connection.handle)
        // The read models were read in a transaction of their own; another connection may have appended since, which
        // `PRAGMA data_version` cannot show before the first transaction has read it. So that first transaction
        // reads them again, with the head, under the write lock.
        self.readModelsNeedReload = readModels != nil
        pending.reserveCapacity(self.maximumBatchSize)
    }

    /// The prepared statement for an inline projection's SQL, prepared on first use.
    func projectionStatement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = projectionStatements[sql] { return statement }
        let statement = try connection.prepare(sql)
        projectionStatements[sql] = statement
        return statement
    }

    /// Replaces SQLite's automatic checkpoint, which the committing writer would run itself, with a request to the
    /// maintenance thread once the WAL holds `threshold` pages. Call before ``start()``.
    ///
    /// A passive checkpoint alone never shortens the WAL while appends keep coming: SQLite starts writing the WAL
    /// from its beginning again only when a write transaction begins after every frame has been copied back, and
    /// the maintenance thread always trails the writer by the frames committed while it copied. So the
    /// maintenance thread is asked again while it trails by more than an eighth of the request threshold (below),
    /// and once it trails by less, the writer runs a passive checkpoint itself between transactions — copying only
    /// those few, a short pause instead of a long one — and its next transaction restarts the WAL. At four times
    /// `threshold` it does so regardless, and waits (up to the busy timeout) for a checkpoint the maintenance
    /// thread is running, so the WAL stays bounded even when the maintenance thread falls behind.
    ///
    /// The request threshold is `threshold`, or half of the size bound when `maximumBytes` is above 0 and that is
    /// smaller. Before the next commit could pass the size bound (judging by twice the largest commit so far, up
    /// to half the bound) the writer runs a restart checkpoint, which also waits for the maintenance thread's
    /// checkpoint to end and for readers to leave the WAL.
    func installWALHook(maintenance: SQLiteMaintenance, threshold: Int, maximumBytes: Int = 0) {
        var maximumFrames = Int32.max
        if maximumBytes > 0 {
            let pageSize = Int((try? connection.queryInteger("PRAGMA page_size")) ?? 4096)
            // Each frame is a 24-byte header and a page; the file starts with a 32-byte header.
            maximumFrames = Int32(clamping: max(1, (maximumBytes - 32) / (pageSize + 24)))
        }
        let context = WALHookContext(
            maintenance: maintenance, threshold: Int32(clamping: threshold), maximumFrames: maximumFrames)
        walHookContext = context
        sqlite3_wal_hook(
            connection.handle,
            { context, _, _, pages in
                guard let context else { return SQLITE_OK }
                let hook = Unmanaged<WALHookContext>.fromOpaque(context).takeUnretainedValue()
                // A commit that leaves fewer frames than the last one started the WAL over.
                let growth = pages > hook.lastPages ? pages - hook.lastPages : pages
                if pages < hook.lastPages {
                    hook.sizeBoundRetryFrames = 0
                    hook.maintenance.walStartedOver()
                }
                hook.largestCommit = max(hook.largestCommit, growth)
                hook.lastPages = pages
                hook.pages = pages
                // Leave the last stretch to the writer (see boundWAL), so the two do not contend for the
                // checkpoint lock once the maintenance thread has caught up.
                if pages >= hook.requestThreshold,
                    Int(pages) - hook.maintenance.checkpointedFrames > hook.lastStretch
                {
                    hook.maintenance.requestCheckpoint()
                }
                return SQLITE_OK
            },
            Unmanaged.passUnretained(context).toOpaque()
        )
    }

    /// Runs the writer's own checkpoint when the WAL has grown past the bounds described at
    /// ``installWALHook(maintenance:threshold:maximumBytes:)``; called between transactions, after the callers
    /// were resumed.
    private func boundWAL() {
        guard let hook = walHookContext else { return }
        let pages = Int(hook.pages)
        let threshold = Int(hook.threshold)
        let requestThreshold = Int(hook.requestThreshold)
        // Room for two more commits of the largest size seen, but never more than half the bound, so that one huge
        // commit (an import) does not make every later commit checkpoint.
        let margin = min(2 * Int(hook.largestCommit), Int(hook.maximumFrames) / 2)
        // After a restart checkpoint that failed or was not tried (a reader kept an older snapshot, or the newest one
        // past the busy timeout), wait for another eighth of the bound before the next: an attempt may hold the writer
        // for the busy timeout.
        let nearSizeBound = pages + margin >= Int(hook.maximumFrames) && pages >= Int(hook.sizeBoundRetryFrames)
        guard pages >= requestThreshold || nearSizeBound else { return }
        let remaining = pages - hook.maintenance.checkpointedFrames
        let atHardBound = pages >= 4 * threshold
        guard remaining <= hook.lastStretch || atHardBound || nearSizeBound else { return }
        // At the hard bound a passive checkpoint is not enough: it gives up at once while the maintenance thread
        // holds the checkpoint lock, and a starved maintenance thread (a loaded machine) can hold it for seconds
        // while the WAL keeps growing. A full checkpoint, once the maintenance thread's checkpoint has ended (below),
        // copies every frame, so the writer pays instead of the disk. Near the size bound a restart checkpoint also
        // waits until no reader uses the WAL, without which the next transaction could not start the WAL over. Both
        // wait through the connection's busy handler (at most `busyTimeout`), but not again for a reader that
        // already held them that long on the same snapshot (below).
        let mode =
            nearSizeBound ? SQLITE_CHECKPOINT_RESTART : atHardBound ? SQLITE_CHECKPOINT_FULL : SQLITE_CHECKPOINT_PASSIVE
        var walFrames: Int32 = 0
        var checkpointed: Int32 = 0
        var code = SQLITE_BUSY
        // Whether the full or restart checkpoint was left out for a reader that held the last one.
        var olderSnapshot = false
        // SQLite fails at once while the maintenance thread holds the checkpoint lock, so wait for its checkpoint
        // (passive, it never waits itself) to end first — at a bound, for at most the busy timeout.
        let waitsForMaintenance = mode != SQLITE_CHECKPOINT_PASSIVE
        if !waitsForMaintenance || hook.maintenance.checkpointLock.lock(before: Date(timeIntervalSinceNow: busyTimeout)) {
            code = sqlite3_wal_checkpoint_v2(connection.handle, nil, SQLITE_CHECKPOINT_PASSIVE, &walFrames, &checkpointed)
            // A passive checkpoint stops at the oldest snapshot a reader holds. A full or restart checkpoint waits the
            // busy timeout for that reader to move on, which a live reader soon does; one that is stopped (SIGSTOP, a
            // suspended job) does not, and held the writer for the busy timeout at every attempt while it stayed. So
            // a reader found on the same snapshot as at the last failed wait is not waited for again: the WAL grows
            // past the bound until it moves on.
            if mode != SQLITE_CHECKPOINT_PASSIVE, code == SQLITE_OK {
                let generation = hook.maintenance.currentWALGeneration
                let reader = checkpointed < walFrames ? (generation: generation, frames: checkpointed) : nil
                if let reader, let stuck = hook.stuckReader, stuck == reader {
                    hook.maintenance.recordCheckpoint(frames: checkpointed, generation: generation)
                    code = SQLITE_BUSY
                    olderSnapshot = true
                } else {
                    code = sqlite3_wal_checkpoint_v2(connection.handle, nil, mode, &walFrames, &checkpointed)
                    hook.stuckReader = code == SQLITE_OK ? nil : reader
                }
            }
            if waitsForMaintenance { hook.maintenance.checkpointLock.unlock() }
        }
        if code == SQLITE_OK {
            hook.maintenance.recordCheckpoint(frames: checkpointed, generation: hook.maintenance.currentWALGeneration)
        }
        if nearSizeBound {
            let retryFrames = pages + max(1, Int(hook.maximumFrames) / 8)
            hook.sizeBoundRetryFrames = code == SQLITE_OK ? 0 : Int32(clamping: retryFrames)
        }
        logger.trace(
            "writer checkpoint",
            metadata: [
                "code": "\(code)", "mode": "\(olderSnapshot ? SQLITE_CHECKPOINT_PASSIVE : mode)",
                "walFrames": "\(walFrames)", "checkpointed": "\(checkpointed)", "olderSnapshot": "\(olderSnapshot)",
            ])
        // Until the next commit reports the WAL's new size, do not try again.
        hook.pages = 0
    }

    /// Starts the writer thread.
    func start() {
        let thread = Thread { [self] in
            nameCurrentThread("whizbang.writer")
            OwnThread.mark(self)
            run()
        }
        thread.name = "whizbang.writer"
        thread.start()
    }

    /// Queues a write; fails it with `EventStoreError/Code/closed` if the writer is closing.
    func submit(_ request: SQLiteWriteRequest) {
        condition.lock()
        guard !isClosing else {
            condition.unlock()
            request.fail(EventStoreError(.closed, message: "the event store was closed"))
            return
        }
        pending.append(request)
        if pending.count == 1 { condition.signal() }
        condition.unlock()
    }

    /// Notes that another process appended up to `head`, so that the read models follow those events without
    /// waiting for an append of this store; called by the maintenance thread.
    func noteExternalAppends(upTo head: UInt64) {
        condition.lock()
        if head > externalHead {
            externalHead = head
            condition.signal()
        }
        condition.unlock()
    }

    /// Hands the head noted by ``noteExternalAppends(upTo:)`` to the read models; on the writer thread, under the lock.
    private func takeExternalAppends() {
        guard externalHead > 0 else { return }
        readModels?.noteAppended(upTo: externalHead)
        externalHead = 0
    }

    /// The number of writes queued and not yet taken by the writer thread.
    var pendingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return pending.count
    }

    /// Whether the caller runs on the writer's thread (code the writer calls: an inline projection, a read model).
    var isCurrentThread: Bool { OwnThread.isCurrent(self) }

    /// Finishes the writes already queued, refuses later ones, closes the connection and returns when the thread
    /// has stopped. Must not be called on the writer's own thread (``isCurrentThread``), which would wait for itself.
    func close() {
        beginClose()
        condition.lock()
        while !isFinished { condition.wait() }
        condition.unlock()
    }

    /// Refuses later writes and lets the thread finish the queued ones and stop, without waiting for it.
    func beginClose() {
        condition.lock()
        isClosing = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        var batch: [SQLiteWriteRequest] = []
        batch.reserveCapacity(maximumBatchSize)
        var outcomes: [SQLiteWriteRequest.Outcome] = []
        outcomes.reserveCapacity(maximumBatchSize)
        while true {
            condition.lock()
            while pending.isEmpty && !isClosing {
                takeExternalAppends()
                if hasReadModelWork { break }
                if let retry = readModels?.pausedUntil {
                    // Paused after a failed batch: wait until the retry time, then look again without the pause.
                    if retry > Date() { _ = condition.wait(until: retry) } else { readModels?.endPause() }
                } else {
                    condition.wait()
                }
            }
            if pending.isEmpty {
                // Read under the lock: close() sets it under the lock from another thread.
                let closing = isClosing
                condition.unlock()
                if closing { break }
                runReadModelBatch()
                continue
            }
            if pending.count <= maximumBatchSize {
                swap(&pending, &batch)
            } else {
                batch.append(contentsOf: pending.prefix(maximumBatchSize))
                pending.removeFirst(maximumBatchSize)
            }
            condition.unlock()

            commit(batch, outcomes: &outcomes)
            batch.removeAll(keepingCapacity: true)
            boundWAL()
            // One batch of read model work between group commits: appends keep flowing during a backfill.
            if hasReadModelWork { runReadModelBatch() }
        }
        connection.close()
        // The store may be kept after it is closed (its owner's reference): the cache, up to 65,536 streams or about
        // 5 MiB, is of no use any more.
        streamCache = [:]
        condition.lock()
        isFinished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Runs a batch in one transaction and resumes every request.
    private func commit(_ batch: [SQLiteWriteRequest], outcomes: inout [SQLiteWriteRequest.Outcome]) {
        outcomes.removeAll(keepingCapacity: true)
        let now = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
        var head: UInt64 = 0
        var failure: SQLiteError?
        do {
            try statements.begin.execute()
            try invalidateStreamCacheIfChanged()
            for request in batch {
                let outcome = try perform(request, now: now)
                if case .appended(let result) = outcome { head = max(head, result.positions.upperBound &- 1) }
                outcomes.append(outcome)
            }
            try readModels?.flush()
            try statements.commit.execute()
        } catch {
            failure = error
        }
        if let failure {
            if connection.isInTransaction { try? statements.rollback.execute() }
            streamCache.removeAll()
            if readModels != nil { readModelsNeedReload = true }
            let error = failure.eventStoreError
            logger.debug(
                "group commit failed",
                metadata: ["error": "\(failure)", "requests": "\(batch.count)"]
            )
            for request in batch { request.fail(error) }
            return
        }
        logger.trace("group commit", metadata: ["requests": "\(batch.count)", "head": "\(head)"])
        if head > 0 { signal.advance(to: head) }
        if readModels != nil { readModelSignal.advance(to: readModelSignal.head + 1) }
        for (request, outcome) in zip(batch, outcomes) { request.resume(with: outcome) }
    }

    /// Empties the stream cache if another connection has committed since the last transaction; call inside the
    /// transaction, whose lock keeps other writers out until it ends.
    func invalidateStreamCacheIfChanged() throws(SQLiteError) {
        let statement = statements.dataVersion
        defer { statement.reset() }
        let version = try statement.step() ? statement.int64(at: 0) : 0
        if version != dataVersion {
            streamCache.removeAll(keepingCapacity: true)
            if dataVersion != -1 { readModelsNeedReload = true }
            dataVersion = version
        }
        if readModelsNeedReload, let readModels {
            try readModels.reload()
            readModelsNeedReload = false
        }
    }

    private func perform(_ request: SQLiteWriteRequest, now: Int64) throws(SQLiteError) -> SQLiteWriteRequest.Outcome {
        switch request {
        case .append(let append):
            return try performAppend(append, now: now)
        case .saveCheckpoint(let consumer, let position, _):
            let statement = statements.upsertCheckpoint
            statement.bind(consumer, at: 1)
            statement.bind(position, at: 2)
            try statement.execute()
            return .saved
        case .rebuildReadModel(let name, _):
            if let refusal = readModels?.startRebuild(of: name) { return .refused(refusal) }
            return .saved
        case .saveSnapshot(let snapshot, _):
            let statement = statements.upsertSnapshot
            statement.bind(snapshot.streamID.rawValue, at: 1)
            statement.bind(snapshot.streamVersion, at: 2)
            statement.bind(snapshot.stateType, at: 3)
            statement.bind(now, at: 5)
            let error: SQLiteError? = snapshot.data.withUnsafeBytes { data in
                statement.bindBorrowedPayload(data, at: 4)
                return statement.executeReturningError()
            }
            if let error { throw error }
            return .saved
        }
    }
}

extension SQLiteWriter {
    /// A stream's key and version, as the writer last wrote or read them.
    struct CachedStream {
        var key: Int64
        var version: UInt64
    }

    /// What the WAL hook needs; kept alive by the writer.
    final class WALHookContext {
        let maintenance: SQLiteMaintenance
        let threshold: Int32
        /// The most frames the WAL may hold (`Int32.max` without a size bound).
        let maximumFrames: Int32
        /// The WAL size, in pages, from which the maintenance thread is asked to checkpoint: `threshold`, or half
        /// the size bound if that is smaller.
        let requestThreshold: Int32
        /// The frames the maintenance thread may trail the writer by before the writer copies them itself (an
        /// eighth of ``requestThreshold``); above it the maintenance thread is asked again.
        let lastStretch: Int
        /// The WAL's size in pages after the last commit, until the writer's own checkpoint; used only on the
        /// writer thread.
        var pages: Int32 = 0
        /// The WAL's size in pages after the last commit.
        var lastPages: Int32 = 0
        /// The most frames one commit has added to the WAL.
        var largestCommit: Int32 = 0
        /// The WAL size from which the writer tries its restart checkpoint again after one failed; 0 when none did.
        var sizeBoundRetryFrames: Int32 = 0
        /// Where the last full or restart checkpoint that waited for readers and failed found the oldest reader: the
        /// WAL's generation and the frames copied before that reader's snapshot. A reader still there, on that same
        /// snapshot, is not waited for again.
        var stuckReader: (generation: Int, frames: Int32)?

        init(maintenance: SQLiteMaintenance, threshold: Int32, maximumFrames: Int32) {
            self.maintenance = maintenance
            self.threshold = threshold
            self.maximumFrames = maximumFrames
            self.requestThreshold = max(1, min(threshold, maximumFrames / 2))
            self.lastStretch = Int(requestThreshold) / 8
        }
    }

    /// The writer's statements, prepared once.
    struct Statements {
        let begin: SQLiteStatement
        let commit: SQLiteStatement
        let rollback: SQLiteStatement
        let savepoint: SQLiteStatement
        let releaseSavepoint: SQLiteStatement
        let rollbackToSavepoint: SQLiteStatement
        let selectStream: SQLiteStatement
        let insertStream: SQLiteStatement
        let insertEvent: SQLiteStatement
        let selectStreamEvents: SQLiteStatement
        let selectEventByID: SQLiteStatement
        let selectHead: SQLiteStatement
        let dataVersion: SQLiteStatement
        let upsertCheckpoint: SQLiteStatement
        let upsertSnapshot: SQLiteStatement

        init(_ connection: SQLiteConnection) throws(SQLiteError) {
            begin = try connection.prepare("BEGIN IMMEDIATE")
            commit = try connection.prepare("COMMIT")
            rollback = try connection.prepare("ROLLBACK")
            savepoint = try connection.prepare("SAVEPOINT request")
            releaseSavepoint = try connection.prepare("RELEASE request")
            rollbackToSavepoint = try connection.prepare("ROLLBACK TO request")
            selectStream = try connection.prepare(SQLiteSchema.selectStreamSQL)
            insertStream = try connection.prepare("INSERT INTO streams (stream_id, version) VALUES (?1, ?2)")
            insertEvent = try connection.prepare(
                """
                INSERT INTO events (stream_key, version, event_id, event_type, data, metadata, recorded_at,
                    schema_version)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                """
            )
            selectStreamEvents = try connection.prepare(
                """
                SELECT version, position, event_id FROM events
                WHERE stream_key = ?1 AND version >= ?2 ORDER BY version LIMIT ?3
                """
            )
            selectEventByID = try connection.prepare("SELECT stream_key, version FROM events WHERE event_id = ?1")
            selectHead = try connection.prepare("SELECT max(position) FROM events")
            dataVersion = try connection.prepare("PRAGMA data_version")
            upsertCheckpoint = try connection.prepare(
                """
                INSERT INTO checkpoints (consumer, position) VALUES (?1, ?2)
                ON CONFLICT (consumer) DO UPDATE SET position = excluded.position
                """
            )
            upsertSnapshot = try connection.prepare(
                """
                INSERT INTO snapshots (stream_id, version, state_type, data, saved_at) VALUES (?1, ?2, ?3, ?4, ?5)
                ON CONFLICT (stream_id) DO UPDATE SET
                    version = excluded.version, state_type = excluded.state_type, data = excluded.data,
                    saved_at = excluded.saved_at
                WHERE excluded.version >= snapshots.version
                """
            )
        }
    }
}
