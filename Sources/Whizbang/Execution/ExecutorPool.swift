public import Synchronization

// `@unchecked Sendable`: every piece of mutable state is a shard's `ShardState`, read and written only under that
// shard's `Mutex`; the buffer that holds the shards is allocated in `init`, never reassigned, and freed in `deinit`.

/// Routes work by key to serial lanes: work for one key runs one at a time in submission order, work for different
/// keys runs concurrently.
///
/// The key is usually an aggregate's stream id. A lane exists only while it has work: the first caller for an idle
/// key creates it and runs its handler on its own task, later callers for that key queue in FIFO order and are handed
/// the lane in turn, and the lane is removed when its last caller finishes. Memory therefore follows the number of
/// keys with work in flight, never the number of keys ever seen.
///
/// The map from key to lane is split into shards, each under its own lock, so submitters for different keys rarely
/// contend. Each lane keeps the guarantees of ``SerialExecutor``: FIFO order, no overlap, every caller answered,
/// cancellation while queued, and ``ExecutorError/Code/reentrantSubmission`` for a handler that submits to its own
/// key, from its own task or from a child task of it (which inherits the handler's mark), as for ``SerialExecutor``.
public final class ExecutorPool<Key: Hashable & Sendable>: @unchecked Sendable {
    /// How a pool shards its lanes and queues its callers.
    public struct Configuration: Sendable {
        /// A name for the pool, carried by its errors. Default: `"pool"`.
        public var label: String
        /// The number of independently locked shards, rounded up to a power of two. Default: 16.
        public var shardCount: Int
        /// The most callers that may wait for one lane, or `nil` for no limit. Default: `nil`. It bounds the queue only
        /// with ``overflowBehavior`` ``OverflowBehavior/reject``: with ``OverflowBehavior/wait`` a caller past it waits
        /// as every queued caller does.
        public var queueLimit: Int?
        /// What a caller that finds its lane's queue at ``queueLimit`` does. Default: ``OverflowBehavior/wait``.
        public var overflowBehavior: OverflowBehavior

        /// A configuration with the documented defaults.
        public init() {
            self.label = "pool"
            self.shardCount = 16
            self.queueLimit = nil
            self.overflowBehavior = .wait
        }
    }

    /// A key with its hash, computed once per call: it picks the shard, and the shard's map hashes only this number
    /// instead of the key again on claim and on release (a stream id is a string).
    @usableFromInline
    struct LaneKey: Hashable, Sendable {
        @usableFromInline let key: Key
        @usableFromInline let hash: Int

        @inlinable
        init(_ key: Key) {
            self.key = key
            self.hash = key.hashValue
        }

        @inlinable
        func hash(into hasher: inout Hasher) { hasher.combine(hash) }

        @inlinable
        static func == (lhs: LaneKey, rhs: LaneKey) -> Bool { lhs.hash == rhs.hash && lhs.key == rhs.key }
    }

    @usableFromInline typealias Shard = Mutex<ShardState>

    /// The shards, each on a cache line (two, with the adjacent-line prefetcher) of its own so that submitters for
    /// different shards do not slow each other down through false sharing. Read without reference counting.
    @usableFromInline let shardBase: UnsafeMutableRawPointer
    @usableFromInline let shardMask: Int
    /// The configuration the pool was created with, with ``Configuration/shardCount`` rounded to a power of two.
    public let configuration: Configuration

    @inlinable
    static var shardStride: Int {
        (MemoryLayout<Shard>.stride + 127) & ~127
    }

    /// Creates an empty pool that accepts work.
    public init(configuration: Configuration = Configuration()) {
        var configuration = configuration
        var count = 1
        while count < max(1, min(configuration.shardCount, 4096)) { count <<= 1 }
        configuration.shardCount = count
        self.configuration = configuration
        self.shardMask = count - 1
        self.shardBase = UnsafeMutableRawPointer.allocate(byteCount: count * Self.shardStride, alignment: 128)
        for index in 0..<count {
            (shardBase + index * Self.shardStride).bindMemory(to: Shard.self, capacity: 1)
                .initialize(to: Shard(ShardState(index: index)))
        }
    }

    deinit {
        for index in 0...shardMask { shard(index).deinitialize(count: 1) }
        shardBase.deallocate()
    }

    @inlinable
    func shard(_ index: Int) -> UnsafeMutablePointer<Shard> {
        (shardBase + index * Self.shardStride).assumingMemoryBound(to: Shard.self)
    }

    @inlinable
    func shard(for key: LaneKey) -> UnsafeMutablePointer<Shard> {
        shard(key.hash & shardMask)
    }

    /// Runs a handler that does not suspend on `key`'s lane, after every handler submitted to that key before it.
    ///
    /// - Parameters:
    ///   - key: the lane's key, usually a stream id.
    ///   - body: the handler. It runs on the caller's task and in the caller's isolation.
    /// - Throws: what `body` throws; `CancellationError` if the task is cancelled while it waits for the lane;
    ///   ``ExecutorError`` (`stopped`, `draining`, `queueFull`, `reentrantSubmission`) when `body` does not run.
    @inlinable
    public nonisolated(nonsending) func run<Result>(key: Key, _ body: () throws -> Result) async throws -> Result {
        let key = LaneKey(key)
        // As in `SerialExecutor`: a handler that cannot suspend cannot submit to its own lane, so it holds the lane
        // under the one number no context names.
        if !tryAcquire(key, by: LaneHolder.nonSuspending) {
            _ = try await acquireSlowly(key, suspending: false, context: HandlerContext.current)
        }
        defer { release(key) }
        return try body()
    }

    /// Runs an asynchronous handler on `key`'s lane, after every handler submitted to that key before it.
    ///
    /// The lane stays held while `body` is suspended.
    ///
    /// - Parameters:
    ///   - key: the lane's key, usually a stream id.
    ///   - body: the handler. It runs on the caller's task and in the caller's isolation.
    /// - Throws: what `body` throws; `CancellationError` if the task is cancelled while it waits for the lane;
    ///   ``ExecutorError`` (`stopped`, `draining`, `queueFull`, `reentrantSubmission`) when `body` does not run.
    @inlinable
    public nonisolated(nonsending) func run<Result>(
        key: Key,
        _ body: nonisolated(nonsending) () async throws -> Result
    ) async throws -> Result {
        let key = LaneKey(key)
        let context = HandlerContext.current
        var holder = shard(for: key).pointee.withLock { $0.tryClaimSuspending(key) }
        if holder == 0 { holder = try await acquireSlowly(key, suspending: true, context: context) }
        defer { release(key) }
        // The handler and its child tasks carry the mark, so a wait of theirs on this lane is seen as re-entrant.
        return try await HandlerContext.local.withValue(context.pushing(.init(executor: identity, holder: holder))) {
            try await body()
        }
    }

    /// Runs `body` on `key`'s lane as the asynchronous `run(key:_:)` does, with one difference: the caller takes its
    /// place on the lane in its own isolation (so calls made in order keep their order), and `body` then runs, and
    /// the lane is released, off the caller's actor. A command sent from the main actor neither runs there nor waits
    /// for it to release its lane.
    @inlinable
    nonisolated(nonsending) func runAfterPlace<Result: Sendable>(
        key: Key, _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        let key = LaneKey(key)
        let context = HandlerContext.current
        var holder = shard(for: key).pointee.withLock { $0.tryClaimSuspending(key) }
        if holder == 0 { holder = try await acquireSlowly(key, suspending: true, context: context) }
        return try await Self.runHolding(
            self, key, context.pushing(.init(executor: identity, holder: holder)), body)
    }

    /// The rest of ``runAfterPlace(key:_:)``, off the caller's actor: `body` with the lane's mark, then the release.
    @usableFromInline
    @concurrent
    static func runHolding<Result: Sendable>(
        _ pool: ExecutorPool, _ key: LaneKey, _ context: HandlerContext,
        _ body: @Sendable () async throws -> Result
    ) async throws -> Result {
        defer { pool.release(key) }
        // The handler and its child tasks carry the mark, so a wait of theirs on this lane is seen as re-entrant.
        return try await HandlerContext.local.withValue(context) { try await body() }
    }

    /// The identity the pool is recorded under in a ``HandlerContext``.
    @usableFromInline let identity = ExecutorIdentity.next()

    /// The number of lanes that exist now: keys with a handler running or callers waiting.
    public var liveLaneCount: Int {
        (0...shardMask).reduce(0) { total, index in total + shard(index).pointee.withLock { $0.lanes.count } }
    }

    /// Whether the pool accepts new work: `false` once ``drain()`` or ``stop()`` has been called.
    public var isAcceptingWork: Bool {
        (0...shardMask).allSatisfy { index in shard(index).pointee.withLock { $0.lifecycle == .running } }
    }

    /// The number of handlers that have started and not yet returned, across all keys (at most one per key).
    ///
    /// As ``SerialExecutor/runningCount``: after ``stop()`` returns, only the handlers counted here can still start
    /// their bodies. Each shard is read under its own lock, so the figure is a sum of snapshots.
    public var runningCount: Int {
        (0...shardMask).reduce(0) { total, index in
            total + shard(index).pointee.withLock { $0.lanes.values.reduce(0) { $0 + ($1.hasRunningHandler ? 1 : 0) } }
        }
    }

    /// The number of callers waiting for their lanes, across all keys.
    public var queuedCount: Int {
        (0...shardMask).reduce(0) { total, index in
            total + shard(index).pointee.withLock { $0.lanes.values.reduce(0) { $0 + $1.queue.count } }
        }
    }

    /// The synchronous fast path: claims `key`'s lane if no one holds it, with no suspension point.
    @inlinable
    func tryAcquire(_ key: LaneKey, by holder: UInt) -> Bool {
        shard(for: key).pointee.withLock { $0.tryClaim(key, by: holder) }
    }

    /// Admits a caller that did not get its lane on the fast path, waiting for the lane if it must, and returns the
    /// holder number it holds the lane under.
    @usableFromInline
    nonisolated(nonsending) func acquireSlowly(_ key: LaneKey, suspending: Bool, context: HandlerContext)
        async throws -> UInt
    {
        let executor = identity
        let (holder, admission) = shard(for: key).pointee.withLock { state in
            let holder = suspending ? state.makeHolder() : LaneHolder.nonSuspending
            return (
                holder,
                state.admit(key, holder: holder, context: context, executor: executor, configuration: configuration)
            )
        }
        switch admission {
        case .acquired: return holder
        case .rejected(let error): throw error
        case .wait(let id):
            try await waitForLane(key, id: id)
            return holder
        }
    }

    @usableFromInline
    nonisolated(nonsending) func waitForLane(_ key: LaneKey, id: UInt64) async throws {
        let label = configuration.label
        let confirmed = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Bool, any Error>) in
                let outcome = shard(for: key).pointee.withLock { state in
                    state.park(key, id: id, continuation: continuation, label: label)
                }
                switch outcome {
                case .parked: break  // resumed later by a hand-over, `stop()` or cancellation
                case .acquired: continuation.resume(returning: true)
                case .failed(let error, let release):
                    release.perform()
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let cancelled = shard(for: key).pointee.withLock { $0.cancel(key, id: id) }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        if confirmed { return }
        // As in `SerialExecutor`: a caller handed the lane outside the lock confirms that it may still start.
        let (error, release) = shard(for: key).pointee.withLock { $0.confirmHandOver(key, label: label) }
        guard let error else { return }
        release.perform()
        throw error
    }

    @inlinable
    func release(_ key: LaneKey) {
        let action = shard(for: key).pointee.withLock { $0.release(key) }
        if case .none = action { return }
        action.perform()
    }

    /// Stops accepting work and waits until every handler already accepted, running or queued, has finished.
    ///
    /// Later submissions fail with ``ExecutorError/Code/draining``; queued callers still run. If the calling task is
    /// cancelled, `drain()` returns without waiting further. Called inside a handler running in this pool (or a child
    /// task of one), it stops admission and returns at once: it cannot wait for the handler it is part of.
    public func drain() async {
        stopAdmitting()
        if HandlerContext.current.isInside(identity) { return }
        for index in 0...shardMask {
            await waitUntilEmpty(shardAt: index)
            if Task.isCancelled { return }
        }
    }

    /// Stops the pool: every queued caller, for every key, fails at once with ``ExecutorError/Code/stopped``, and so
    /// does every later submission.
    ///
    /// Once `stop()` returns, no handler starts in this pool: a caller that was handed its lane but had not yet started
    /// its handler fails with ``ExecutorError/Code/stopped`` too. Running handlers finish normally and their callers
    /// get their results. To wait for them, call ``drain()`` afterwards.
    public func stop() {
        let error = ExecutorError(.stopped, executorLabel: configuration.label)
        for index in 0...shardMask {
            let queued = shard(index).pointee.withLock { $0.stop() }
            for caller in queued { caller.continuation.resume(throwing: error) }
        }
    }

    /// Stops admission as `drain()` does, without waiting.
    func stopAdmitting() {
        for index in 0...shardMask {
            shard(index).pointee.withLock { state in
                if state.lifecycle == .running { state.lifecycle = .draining }
            }
        }
    }

    func waitUntilEmpty(shardAt index: Int) async {
        let id = shard(index).pointee.withLock { state -> UInt64? in
            if state.lanes.isEmpty { return nil }
            state.nextWaiterID &+= 1
            return state.nextWaiterID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let waits = shard(index).pointee.withLock { state -> Bool in
                    guard !state.lanes.isEmpty, !Task.isCancelled else { return false }
                    state.idleWaiters.append(IdleWaiter(id: id, continuation: continuation))
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            let waiter = shard(index).pointee.withLock { state -> IdleWaiter? in
                guard let index = state.idleWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.idleWaiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }
}
