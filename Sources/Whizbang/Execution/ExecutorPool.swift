public import Synchronization

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
/// key.
public final class ExecutorPool<Key: Hashable & Sendable>: Sendable {
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

    @usableFromInline
    struct ShardState: Sendable {
        @usableFromInline var lanes: [Key: SerialLaneState] = [:]
        @usableFromInline var lifecycle = ExecutorLifecycle.running
        @usableFromInline var nextID: UInt64 = 0
        @usableFromInline var idleWaiters: [IdleWaiter] = []
    }

    @usableFromInline
    final class Shard: Sendable {
        @usableFromInline let state = Mutex(ShardState())
        init() {}
    }

    @usableFromInline let shards: [Shard]
    @usableFromInline let shardMask: Int
    /// The configuration the pool was created with, with ``Configuration/shardCount`` rounded to a power of two.
    public let configuration: Configuration

    /// Creates an empty pool that accepts work.
    public init(configuration: Configuration = Configuration()) {
        var configuration = configuration
        var count = 1
        while count < max(1, min(configuration.shardCount, 4096)) { count <<= 1 }
        configuration.shardCount = count
        self.configuration = configuration
        self.shards = (0..<count).map { _ in Shard() }
        self.shardMask = count - 1
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
        let shard = shards[key.hashValue & shardMask]
        try await acquire(key, in: shard)
        defer { release(key, in: shard) }
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
        let shard = shards[key.hashValue & shardMask]
        try await acquire(key, in: shard)
        defer { release(key, in: shard) }
        return try await body()
    }

    /// The number of lanes that exist now: keys with a handler running or callers waiting.
    public var liveLaneCount: Int {
        shards.reduce(0) { total, shard in total + shard.state.withLock { $0.lanes.count } }
    }

    /// Whether the pool accepts new work: `false` once ``drain()`` or ``stop()`` has been called.
    public var isAcceptingWork: Bool {
        shards[0].state.withLock { $0.lifecycle == .running }
    }

    /// The number of callers waiting for their lanes, across all keys.
    public var queuedCount: Int {
        shards.reduce(0) { total, shard in
            total + shard.state.withLock { $0.lanes.values.reduce(0) { $0 + $1.queue.count } }
        }
    }

    @usableFromInline
    enum Admission {
        case acquired
        case wait(id: UInt64, task: UInt)
        case rejected(any Error)
    }

    @inlinable
    nonisolated(nonsending) func acquire(_ key: Key, in shard: Shard) async throws {
        let task = TaskIdentity.current
        let label = configuration.label
        let admission = shard.state.withLock { state -> Admission in
            if let rejection = state.lifecycle.rejection(label: label) { return .rejected(rejection) }
            switch state.lanes[key, default: SerialLaneState()].claim(by: task) {
            case .acquired:
                return .acquired
            case .reentrant:
                return .rejected(ExecutorError(.reentrantSubmission, executorLabel: label))
            case .mustWait:
                return admitWaiter(for: key, task: task, state: &state)
            }
        }
        switch admission {
        case .acquired: return
        case .rejected(let error): throw error
        case .wait(let id, let task): try await waitForLane(key, in: shard, id: id, task: task)
        }
    }

    @usableFromInline
    func admitWaiter(for key: Key, task: UInt, state: inout ShardState) -> Admission {
        if configuration.overflowBehavior == .reject, let limit = configuration.queueLimit,
            let queued = state.lanes[key]?.queue.count, queued >= limit
        {
            return .rejected(ExecutorError(.queueFull, executorLabel: configuration.label))
        }
        state.nextID &+= 1
        return .wait(id: state.nextID, task: task)
    }

    @usableFromInline
    nonisolated(nonsending) func waitForLane(_ key: Key, in shard: Shard, id: UInt64, task: UInt) async throws {
        let label = configuration.label
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let outcome = shard.state.withLock { state -> EnqueueOutcome in
                    if let rejection = state.lifecycle.rejection(label: label) { return .failed(rejection) }
                    if Task.isCancelled { return .failed(CancellationError()) }
                    switch state.lanes[key, default: SerialLaneState()].claim(by: task) {
                    case .acquired:
                        return .acquired
                    case .reentrant:
                        return .failed(ExecutorError(.reentrantSubmission, executorLabel: label))
                    case .mustWait:
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
            let cancelled = shard.state.withLock { state -> QueuedCaller? in
                guard let index = state.lanes.index(forKey: key) else { return nil }
                return state.lanes.values[index].removeQueued(id: id)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    @inlinable
    func release(_ key: Key, in shard: Shard) {
        let (next, idle) = shard.state.withLock { state -> (QueuedCaller?, [IdleWaiter]) in
            guard let index = state.lanes.index(forKey: key) else { return (nil, []) }
            if let next = state.lanes.values[index].release() { return (next, []) }
            state.lanes.remove(at: index)
            guard state.lanes.isEmpty, state.lifecycle != .running, !state.idleWaiters.isEmpty else {
                return (nil, [])
            }
            defer { state.idleWaiters.removeAll() }
            return (nil, state.idleWaiters)
        }
        if let next {
            next.continuation.resume()
        } else {
            for waiter in idle { waiter.continuation.resume() }
        }
    }

    /// Stops accepting work and waits until every handler already accepted, running or queued, has finished.
    ///
    /// Later submissions fail with ``ExecutorError/Code/draining``; queued callers still run. If the calling task is
    /// cancelled, `drain()` returns without waiting further. Do not call it from a handler running in this pool: it
    /// would wait for that handler, which is waiting for it.
    public func drain() async {
        for shard in shards {
            shard.state.withLock { state in
                if state.lifecycle == .running { state.lifecycle = .draining }
            }
        }
        for shard in shards {
            await waitUntilEmpty(shard)
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
        for shard in shards {
            let queued = shard.state.withLock { state -> [QueuedCaller] in
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

    func waitUntilEmpty(_ shard: Shard) async {
        let id = shard.state.withLock { state -> UInt64? in
            if state.lanes.isEmpty { return nil }
            state.nextID &+= 1
            return state.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let waits = shard.state.withLock { state -> Bool in
                    guard !state.lanes.isEmpty, !Task.isCancelled else { return false }
                    state.idleWaiters.append(IdleWaiter(id: id, continuation: continuation))
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            let waiter = shard.state.withLock { state -> IdleWaiter? in
                guard let index = state.idleWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.idleWaiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }
}
