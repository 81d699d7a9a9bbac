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
/// key (from its own task: a child task of the handler is another caller, as for ``SerialExecutor``).
public final class ExecutorPool<Key: Hashable & Sendable>: @unchecked Sendable {
    /// How a pool shards its lanes and queues its callers.
    public struct Configuration: Sendable {
        /// A name for the pool, carried by its errors. Default: `"pool"`.
        public var label: String
        /// The number of independently locked shards, rounded up to a power of two. Default: 16.
        public var shardCount: Int
        /// The most callers that may wait for one lane, or `nil` for no limit. Default: `nil`.
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

    @usableFromInline
    struct ShardState: Sendable {
        @usableFromInline var lanes: [LaneKey: SerialLaneState] = [:]
        @usableFromInline var lifecycle = ExecutorLifecycle.running
        @usableFromInline var nextID: UInt64 = 0
        @usableFromInline var idleWaiters: [IdleWaiter] = []

        /// Claims `key`'s lane for `task` if it has none yet, creating it; `false` leaves everything to the slow path.
        @inlinable
        mutating func tryClaim(_ key: LaneKey, by task: UInt) -> Bool {
            guard lifecycle == .running else { return false }
            return lanes[key, default: SerialLaneState()].claimIfIdle(by: task)
        }

        /// Gives `key`'s lane up: to its oldest waiter if it has one; otherwise the lane is removed, and once a draining
        /// or stopped shard has no lanes left its `drain()` callers are woken.
        @inlinable
        mutating func release(_ key: LaneKey) -> ReleaseAction {
            guard let index = lanes.index(forKey: key) else { return .none }
            if let next = lanes.values[index].release() { return .handOver(next) }
            lanes.remove(at: index)
            if lifecycle == .running || !lanes.isEmpty || idleWaiters.isEmpty { return .none }
            defer { idleWaiters.removeAll() }
            return .wakeIdleWaiters(idleWaiters)
        }
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
                .initialize(to: Shard(ShardState()))
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
        // As in `SerialExecutor`: a handler that cannot suspend cannot submit to its own lane, so the fast path
        // records no task identity.
        if !tryAcquire(key, by: TaskIdentity.nonSuspendingHandler) {
            try await acquireSlowly(key, by: TaskIdentity.current)
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
        let task = TaskIdentity.current
        if !tryAcquire(key, by: task) { try await acquireSlowly(key, by: task) }
        defer { release(key) }
        return try await body()
    }

    /// The number of lanes that exist now: keys with a handler running or callers waiting.
    public var liveLaneCount: Int {
        (0...shardMask).reduce(0) { total, index in total + shard(index).pointee.withLock { $0.lanes.count } }
    }

    /// Whether the pool accepts new work: `false` once ``drain()`` or ``stop()`` has been called.
    public var isAcceptingWork: Bool {
        shard(0).pointee.withLock { $0.lifecycle == .running }
    }

    /// The number of callers waiting for their lanes, across all keys.
    public var queuedCount: Int {
        (0...shardMask).reduce(0) { total, index in
            total + shard(index).pointee.withLock { $0.lanes.values.reduce(0) { $0 + $1.queue.count } }
        }
    }

    @usableFromInline
    enum Admission {
        case acquired
        case wait(id: UInt64)
        case rejected(any Error)
    }

    /// The synchronous fast path: claims `key`'s lane if no one holds it, with no suspension point.
    @inlinable
    func tryAcquire(_ key: LaneKey, by task: UInt) -> Bool {
        shard(for: key).pointee.withLock { $0.tryClaim(key, by: task) }
    }

    @usableFromInline
    nonisolated(nonsending) func acquireSlowly(_ key: LaneKey, by task: UInt) async throws {
        let label = configuration.label
        let admission = shard(for: key).pointee.withLock { state -> Admission in
            if let rejection = state.lifecycle.rejection(label: label) { return .rejected(rejection) }
            switch state.lanes[key, default: SerialLaneState()].claim(by: task) {
            case .acquired:
                return .acquired
            case .reentrant:
                return .rejected(ExecutorError(.reentrantSubmission, executorLabel: label))
            case .mustWait:
                return admitWaiter(for: key, state: &state)
            }
        }
        switch admission {
        case .acquired: return
        case .rejected(let error): throw error
        case .wait(let id): try await waitForLane(key, id: id, task: task)
        }
    }

    @usableFromInline
    func admitWaiter(for key: LaneKey, state: inout ShardState) -> Admission {
        if configuration.overflowBehavior == .reject, let limit = configuration.queueLimit,
            let queued = state.lanes[key]?.queue.count, queued >= limit
        {
            return .rejected(ExecutorError(.queueFull, executorLabel: configuration.label))
        }
        state.nextID &+= 1
        return .wait(id: state.nextID)
    }

    @usableFromInline
    nonisolated(nonsending) func waitForLane(_ key: LaneKey, id: UInt64, task: UInt) async throws {
        let label = configuration.label
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let outcome = shard(for: key).pointee.withLock { state -> EnqueueOutcome in
                    if let rejection = state.lifecycle.rejection(label: label) { return .failed(rejection) }
                    if Task.isCancelled { return .failed(CancellationError()) }
                    switch state.lanes[key, default: SerialLaneState()].claim(by: task) {
                    case .acquired:
                        return .acquired
                    case .reentrant:
                        return .failed(ExecutorError(.reentrantSubmission, executorLabel: label))
                    case .mustWait:
                        // Checked again here: other callers may have queued since admission.
                        if configuration.overflowBehavior == .reject, let limit = configuration.queueLimit,
                            state.lanes[key]!.queue.count >= limit
                        {
                            return .failed(ExecutorError(.queueFull, executorLabel: label))
                        }
                        state.lanes[key]!.queue.append(QueuedCaller(id: id, task: task, continuation: continuation))
                        return .queued
                    }
                }
                switch outcome {
                case .acquired: continuation.resume()
                case .queued: break  // resumed later by a release, `stop()` or cancellation
                case .failed(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let cancelled = shard(for: key).pointee.withLock { state -> QueuedCaller? in
                guard let index = state.lanes.index(forKey: key) else { return nil }
                return state.lanes.values[index].removeQueued(id: id)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
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
    /// cancelled, `drain()` returns without waiting further. Do not call it from a handler running in this pool: it
    /// would wait for that handler, which is waiting for it.
    public func drain() async {
        for index in 0...shardMask {
            shard(index).pointee.withLock { state in
                if state.lifecycle == .running { state.lifecycle = .draining }
            }
        }
        for index in 0...shardMask {
            await waitUntilEmpty(shardAt: index)
            if Task.isCancelled { return }
        }
    }

    /// Stops the pool: every queued caller, for every key, fails at once with ``ExecutorError/Code/stopped``, and so
    /// does every later submission.
    ///
    /// Running handlers finish normally and their callers get their results. To wait for them, call ``drain()``
    /// afterwards.
    public func stop() {
        let error = ExecutorError(.stopped, executorLabel: configuration.label)
        for index in 0...shardMask {
            let queued = shard(index).pointee.withLock { state -> [QueuedCaller] in
                state.lifecycle = .stopped
                var queued: [QueuedCaller] = []
                for index in state.lanes.indices {
                    queued.append(contentsOf: state.lanes.values[index].queue)
                    state.lanes.values[index].queue.removeAll()
                }
                return queued
            }
            for caller in queued { caller.continuation.resume(throwing: error) }
        }
    }

    func waitUntilEmpty(shardAt index: Int) async {
        let id = shard(index).pointee.withLock { state -> UInt64? in
            if state.lanes.isEmpty { return nil }
            state.nextID &+= 1
            return state.nextID
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
