public import Synchronization

/// Runs handlers one at a time, in the order they were submitted.
///
/// `SerialExecutor` is a lane for one aggregate: handlers submitted to it never overlap and run in submission order
/// (the order in which callers reached the executor). It owns no thread and no task. An idle executor runs the handler
/// directly on the caller's task, without a hop or an allocation; a busy one suspends the caller in a FIFO queue and,
/// when the running handler finishes, hands the lane straight to the oldest waiter, whose own task then runs its
/// handler.
///
/// Every caller gets an answer: its handler's result, its handler's error (only its own), a `CancellationError` if its
/// task is cancelled while it waits, or an ``ExecutorError``. Nothing waits forever on the executor's account:
/// ``stop()`` fails every waiting caller at once, and a handler that submits to the lane it runs on fails with
/// ``ExecutorError/Code/reentrantSubmission`` instead of waiting for itself.
///
/// Re-entrancy is recognised through a task-local mark that child tasks inherit: a submission from a handler's own
/// task or from a child task of it (`async let`, a task group) fails at once instead of waiting for the handler it is
/// part of. See the "Executors" article for the details and the cost.
///
/// A caller whose handler has started is not cancelled by the executor; the handler runs on the caller's task and
/// sees that task's cancellation like any other code.
public final class SerialExecutor: Sendable {
    /// How a serial executor queues and names itself.
    public struct Configuration: Sendable {
        /// A name for the executor, carried by its errors. Default: `"serial"`.
        public var label: String
        /// The most callers that may wait at once, or `nil` for no limit. Default: `nil`. It bounds the queue only with
        /// ``overflowBehavior`` ``OverflowBehavior/reject``: with ``OverflowBehavior/wait`` a caller past it waits as
        /// every queued caller does.
        public var queueLimit: Int?
        /// What a caller that finds the queue at ``queueLimit`` does. Default: ``OverflowBehavior/wait``.
        public var overflowBehavior: OverflowBehavior

        /// A configuration with the documented defaults.
        public init() {
            self.label = "serial"
            self.queueLimit = nil
            self.overflowBehavior = .wait
        }
    }

    @usableFromInline let state: Mutex<State>
    /// The configuration the executor was created with.
    public let configuration: Configuration

    /// Creates an idle executor that accepts work.
    ///
    /// - Parameter configuration: the label, queue limit and overflow behaviour.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        var initial = State()
        initial.lane.queue.slots.reserveCapacity(min(max(configuration.queueLimit ?? 16, 0), 1024))
        self.state = Mutex(initial)
    }

    /// Runs a handler that does not suspend, after every handler submitted before it, and returns its result.
    ///
    /// - Parameter body: the handler. It runs on the caller's task and in the caller's isolation.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws; `CancellationError` if the task is cancelled while it waits for the lane;
    ///   ``ExecutorError`` (`stopped`, `draining`, `queueFull`, `reentrantSubmission`) when `body` does not run.
    @inlinable
    public nonisolated(nonsending) func run<Result>(_ body: () throws -> Result) async throws -> Result {
        // A handler that cannot suspend cannot submit to this lane while it holds it, so it holds the lane under the
        // one number no context names; the slow path still reads the caller's context, to tell a re-entrant
        // submission from an ordinary wait.
        if !tryAcquire(by: LaneHolder.nonSuspending) {
            _ = try await acquireSlowly(suspending: false, context: HandlerContext.current)
        }
        defer { release() }
        return try body()
    }

    /// Runs an asynchronous handler after every handler submitted before it, and returns its result.
    ///
    /// The lane stays held while `body` is suspended: no other handler of this executor runs until it returns.
    ///
    /// - Parameter body: the handler. It runs on the caller's task and in the caller's isolation.
    /// - Returns: what `body` returns.
    /// - Throws: what `body` throws; `CancellationError` if the task is cancelled while it waits for the lane;
    ///   ``ExecutorError`` (`stopped`, `draining`, `queueFull`, `reentrantSubmission`) when `body` does not run.
    @inlinable
    public nonisolated(nonsending) func run<Result>(
        _ body: nonisolated(nonsending) () async throws -> Result
    ) async throws -> Result {
        let context = HandlerContext.current
        var holder = tryAcquireSuspending()
        if holder == 0 { holder = try await acquireSlowly(suspending: true, context: context) }
        defer { release() }
        // The handler and its child tasks carry the mark, so a wait of theirs on this lane is seen as re-entrant.
        return try await HandlerContext.local.withValue(context.pushing(.init(executor: identity, holder: holder))) {
            try await body()
        }
    }

    /// The identity the executor is recorded under in a ``HandlerContext``.
    @usableFromInline let identity = ExecutorIdentity.next()

    /// The number of callers waiting for the lane, not counting the one running.
    public var queuedCount: Int {
        state.withLock { $0.lane.queue.count }
    }

    /// Whether the executor accepts new work: `false` once ``drain()`` or ``stop()`` has been called.
    public var isAcceptingWork: Bool {
        state.withLock { $0.lifecycle == .running }
    }

    /// Whether a handler is running.
    public var isBusy: Bool {
        state.withLock { !$0.lane.isIdle }
    }

    /// The number of handlers that have started and not yet returned: 0 or 1.
    ///
    /// A caller just handed the lane counts once it has confirmed, under the lock, that it may start. After ``stop()``
    /// returns, the handlers counted here are the only ones that can still start their bodies (they were admitted
    /// before it); no other handler starts.
    public var runningCount: Int {
        state.withLock { $0.lane.hasRunningHandler ? 1 : 0 }
    }

    /// Claims the lane for `holder` if it is idle and the executor accepts work: the synchronous fast path, with no
    /// suspension point and no allocation. Everything else (a busy lane, re-entrancy, rejection) is left to
    /// ``acquireSlowly(suspending:context:)``.
    @inlinable
    func tryAcquire(by holder: UInt) -> Bool {
        state.withLock { state in
            state.lifecycle == .running && state.lane.claimIfIdle(by: holder)
        }
    }

    /// The fast path for a handler that can suspend: claims the lane under a new holder number and returns it, or
    /// returns 0 and leaves everything to ``acquireSlowly(suspending:context:)``.
    @inlinable
    func tryAcquireSuspending() -> UInt {
        state.withLock { state in
            guard state.lifecycle == .running, state.lane.isIdle else { return 0 }
            let holder = state.makeHolder()
            _ = state.lane.claimIfIdle(by: holder)
            return holder
        }
    }

    /// Admits a caller that did not get the lane on the fast path, waiting for the lane if it must, and returns the
    /// holder number it holds the lane under.
    @usableFromInline
    nonisolated(nonsending) func acquireSlowly(suspending: Bool, context: HandlerContext) async throws -> UInt {
        let executor = identity
        let (holder, admission) = state.withLock { state in
            let holder = suspending ? state.makeHolder() : LaneHolder.nonSuspending
            return (
                holder,
                state.admit(holder: holder, context: context, executor: executor, configuration: configuration)
            )
        }
        switch admission {
        case .acquired: return holder
        case .rejected(let error): throw error
        case .wait(let id):
            try await waitForLane(id: id)
            return holder
        }
    }

    @usableFromInline
    nonisolated(nonsending) func waitForLane(id: UInt64) async throws {
        let label = configuration.label
        let confirmed = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Bool, any Error>) in
                let outcome = state.withLock { $0.park(id, continuation: continuation, label: label) }
                switch outcome {
                case .parked: break  // resumed later by a hand-over, `stop()` or cancellation
                case .acquired: continuation.resume(returning: true)
                case .failed(let error, let release):
                    release.perform()
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let cancelled = state.withLock { $0.lane.queue.cancel(id) }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        if confirmed { return }
        // Handed the lane outside the lock: it runs only if the executor has not stopped and the caller was not
        // cancelled since, so that no handler starts after `stop()` has returned.
        let (error, release) = state.withLock { $0.confirmHandOver(label: label) }
        guard let error else { return }
        release.perform()
        throw error
    }

    /// Gives the lane up. On the common path (nobody waiting, the executor running) this only marks the lane idle;
    /// handing it over and waking ``drain()`` callers happen in `ReleaseAction.perform()`.
    @inlinable
    func release() {
        let action = state.withLock { $0.release() }
        if case .none = action { return }
        action.perform()
    }

    /// Stops accepting work and waits until every handler already accepted, running or queued, has finished.
    ///
    /// Later submissions fail with ``ExecutorError/Code/draining``. Draining an executor that is stopping waits for
    /// its running handler. If the calling task is cancelled, `drain()` returns without waiting further; the work
    /// still finishes. Called inside a handler running on this executor (or a child task of one), it stops admission
    /// and returns at once: it cannot wait for the handler it is part of.
    public func drain() async {
        await waitUntilIdle(after: .draining)
    }

    /// Stops the executor: every queued caller fails at once with ``ExecutorError/Code/stopped``, and so does
    /// every later submission.
    ///
    /// Once `stop()` returns, no handler starts on this executor: a caller that was handed the lane but had not yet
    /// started its handler fails with ``ExecutorError/Code/stopped`` too. The handler that is running, if any,
    /// finishes normally and its caller gets its result. To wait for it, call ``drain()`` afterwards.
    public func stop() {
        let queued = state.withLock { $0.stop() }
        let error = ExecutorError(.stopped, executorLabel: configuration.label)
        for caller in queued { caller.continuation.resume(throwing: error) }
    }

    /// Stops admission as `drain()` does, without waiting.
    func stopAdmitting() {
        state.withLock { state in
            if state.lifecycle == .running { state.lifecycle = .draining }
        }
    }

    func waitUntilIdle(after lifecycle: ExecutorLifecycle) async {
        let insideHandler = HandlerContext.current.isInside(identity)
        let id = state.withLock { state -> UInt64? in
            if state.lifecycle == .running { state.lifecycle = lifecycle }
            if insideHandler || !state.lane.isInUse { return nil }
            state.nextWaiterID &+= 1
            return state.nextWaiterID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let waits = state.withLock { state -> Bool in
                    guard state.lane.isInUse, !Task.isCancelled else { return false }
                    state.idleWaiters.append(IdleWaiter(id: id, continuation: continuation))
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> IdleWaiter? in
                guard let index = state.idleWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.idleWaiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }
}
