import CWhizbangSQLite
import Foundation
import Logging
import Synchronization
import Whizbang

/// A background connection and thread that keep work off the writer's path: WAL checkpoints, and noticing events
/// that another process appended to the same file.
///
/// - Checkpoints: the writer's WAL hook calls ``requestCheckpoint()`` when the WAL passes the configured size; this
///   thread then runs a passive checkpoint, which copies WAL frames into the database file without blocking the
///   writer or readers. SQLite's own automatic checkpoint (run by the committing writer) is turned off.
/// - External appends: while at least one task waits in ``SQLiteEventStore/waitForEvents(after:)``, or for as long
///   as the store has read models, this thread reads the head position every poll interval and announces it to the
///   ``AppendSignal``; a head past the signal's also goes to `externalAppends`, which wakes the writer's read model
///   work. Appends through this store announce themselves at once; the poll only matters for other processes.
///
/// `@unchecked Sendable`: the flags are guarded by `condition`; the connection is used only by the thread.
final class SQLiteMaintenance: @unchecked Sendable {
    private let condition = NSCondition()
    private var checkpointRequested = false
    private var waiterCount = 0
    private var isClosing = false
    private var isFinished = false
    /// The last checkpoint's count of frames copied (low 32 bits) and the WAL generation it ran in (the rest).
    private let lastCheckpoint = Atomic<Int>(0)
    /// How many times the writer has seen the WAL start over; a count of frames recorded in an earlier generation
    /// is stale.
    private let walGeneration = Atomic<Int>(0)
    /// Held by this thread while it checkpoints, so that the writer can wait for that checkpoint to end before
    /// running its own: SQLite fails a checkpoint at once, without calling the busy handler, while another
    /// connection holds the checkpoint lock.
    let checkpointLock = NSLock()

    /// How many frames of the current WAL the last checkpoint had copied back: 0 before the first, and when the last
    /// one ran before the WAL started over (even if it recorded its count after). A checkpoint that copied every
    /// frame it saw still counts them: the writer may have committed more while it copied, and the WAL starts over
    /// only once those are copied too.
    var checkpointedFrames: Int {
        let last = lastCheckpoint.load(ordering: .acquiring)
        return last >> 32 == walGeneration.load(ordering: .acquiring) ? last & 0xFFFF_FFFF : 0
    }

    /// The WAL generation now, to pass to ``recordCheckpoint(frames:generation:)`` for a checkpoint about to run.
    var currentWALGeneration: Int { walGeneration.load(ordering: .acquiring) }

    /// Records that a checkpoint begun in WAL generation `generation` had copied `frames` frames.
    func recordCheckpoint(frames: Int32, generation: Int) {
        lastCheckpoint.store(generation << 32 | Int(UInt32(bitPattern: frames)), ordering: .releasing)
    }

    /// Called by the writer when it sees the WAL start over: every count recorded before is stale.
    func walStartedOver() {
        walGeneration.wrappingAdd(1, ordering: .releasing)
    }

    private let connection: SQLiteConnection
    private let selectHead: SQLiteStatement
    private let signal: AppendSignal
    private let pollInterval: TimeInterval
    private let externalAppends: (@Sendable (UInt64) -> Void)?
    private let logger: Logger

    /// - Parameter externalAppends: called on this thread with the head, each time a poll finds events the signal
    ///   has not announced (another process's appends); `nil` polls only while tasks wait for events.
    init(
        connection: SQLiteConnection, signal: AppendSignal, configuration: SQLiteEventStore.Configuration,
        externalAppends: (@Sendable (UInt64) -> Void)?
    ) throws(SQLiteError) {
        self.connection = connection
        self.selectHead = try connection.prepare("SELECT max(position) FROM events")
        self.signal = signal
        self.externalAppends = externalAppends
        let (seconds, attoseconds) = configuration.pollInterval.components
        self.pollInterval = Double(seconds) + Double(attoseconds) / 1e18
        self.logger = configuration.logger
    }

    func start() {
        let thread = Thread { [self] in
            nameCurrentThread("whizbang.maint")
            run()
        }
        thread.name = "whizbang.maint"
        thread.start()
    }

    /// Asks for a passive checkpoint soon; cheap enough to call from the writer's commit.
    func requestCheckpoint() {
        condition.lock()
        if !checkpointRequested {
            checkpointRequested = true
            condition.signal()
        }
        condition.unlock()
    }

    /// Counts a task waiting for events, so that the thread polls for other processes' appends meanwhile.
    func beginWaiting() {
        condition.lock()
        waiterCount += 1
        if waiterCount == 1 { condition.signal() }
        condition.unlock()
    }

    func endWaiting() {
        condition.lock()
        waiterCount -= 1
        condition.unlock()
    }

    /// Stops the thread after a final passive checkpoint and closes the connection.
    func close() {
        condition.lock()
        isClosing = true
        condition.broadcast()
        while !isFinished { condition.wait() }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        var nextPoll = Date.distantFuture
        while !isClosing {
            if checkpointRequested {
                checkpointRequested = false
                condition.unlock()
                checkpoint(mode: SQLITE_CHECKPOINT_PASSIVE)
                condition.lock()
                continue
            }
            if waiterCount > 0 || externalAppends != nil {
                if nextPoll == .distantFuture { nextPoll = Date(timeIntervalSinceNow: pollInterval) }
                if Date() >= nextPoll {
                    nextPoll = Date(timeIntervalSinceNow: pollInterval)
                    condition.unlock()
                    pollHead()
                    condition.lock()
                    continue
                }
                _ = condition.wait(until: nextPoll)
            } else {
                nextPoll = .distantFuture
                condition.wait()
            }
        }
        condition.unlock()
        checkpoint(mode: SQLITE_CHECKPOINT_PASSIVE)
        connection.close()
        condition.lock()
        isFinished = true
        condition.broadcast()
        condition.unlock()
    }

    private func checkpoint(mode: Int32) {
        var walFrames: Int32 = 0
        var checkpointed: Int32 = 0
        checkpointLock.lock()
        let generation = currentWALGeneration
        let code = sqlite3_wal_checkpoint_v2(connection.handle, nil, mode, &walFrames, &checkpointed)
        checkpointLock.unlock()
        if code == SQLITE_OK {
            recordCheckpoint(frames: checkpointed, generation: generation)
            logger.trace("checkpoint", metadata: ["walFrames": "\(walFrames)", "checkpointed": "\(checkpointed)"])
        } else {
            logger.debug("checkpoint failed", metadata: ["error": "\(connection.error(code, sql: nil))"])
        }
    }

    private func pollHead() {
        do {
            defer { selectHead.reset() }
            guard try selectHead.step() else { return }
            let head = selectHead.uint64(at: 0)
            // Read before advancing: a head past what the signal knows holds events this store did not announce.
            // (A commit of this store's writer not yet announced counts too, and only costs the writer a look.)
            let unannounced = head > signal.head
            signal.advance(to: head)
            if unannounced { externalAppends?(head) }
        } catch {
            logger.debug("polling the head position failed", metadata: ["error": "\(error)"])
        }
    }
}
