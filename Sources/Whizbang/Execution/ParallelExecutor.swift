public import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Runs handlers concurrently, at most ``Configuration/maximumConcurrency`` at a time.
///
/// `ParallelExecutor` is for stateless handlers. It owns no threads: a caller that finds a permit free takes it with
/// one atomic compare-and-swap and runs its handler on its own task, without a hop or an allocation. A caller that
/// finds none free waits in a FIFO queue, and a finishing handler hands its permit straight to the oldest waiter, so
/// waiting callers start in arrival order and a stream of newcomers cannot overtake them.
///
/// Every caller gets an answer: its handler's result, its handler's error (only its own), a `CancellationError` if its
/// task is cancelled while it waits, or an ``ExecutorError`` when the handler does not run. ``stop()`` fails every
/// waiting caller at once.
public final class ParallelExecutor: Sendable {
    /// How many handlers a parallel executor runs at once, and how it queues the rest.
    public struct Configuration: Sendable {
        /// A name for the executor, carried by its errors. Default: `"parallel"`.
        public var label: String
        /// The most handlers that run at once; at least 1. Default: the number of active processors.
        public var maximumConcurrency: Int
        /// The most callers that may wait at once, or `nil` for no limit. Default: `nil`. It bounds the queue only with
        /// ``overflowBehavior`` ``OverflowBehavior/reject``: with ``OverflowBehavior/wait`` a caller past it waits as
        /// every queued caller does.
        public var queueLimit: Int?
        /// What a caller that finds the queue at ``queueLimit`` does. Default: ``OverflowBehavior/wait``.
        public var overflowBehavior: OverflowBehavior

        /// A configuration with the documented defaults.
        public init() {
            self.label = "parallel"
            self.maximumConcurrency = ProcessInfo.processInfo.activeProcessorCount
            self.queueLimit = nil
            self.overflowBehavior = .wait
        }
    }

    // The fast path lives in one atomic word: the free permits in the low 32 bits, and three flags. While a flag is
    // set, acquiring and releasing take the lock: `waiting` means the queue is non-empty (permits are then handed
    // over, never counted), `draining` and `stopped` mean releases must check for idleness.
    @usableFromInline static var permitsMask: Int { 0xFFFF_FFFF }
    @usableFromInline static var waitingFlag: Int { 1 << 40 }
    @usableFromInline static var drainingFlag: Int { 1 << 41 }
    @usableFromInline static var stoppedFlag: Int { 1 << 42 }
    @usableFromInline static var flagsMask: Int { waitingFlag | drainingFlag | stoppedFlag }

    @usableFromInline
    struct WaitState: Sendable {
        @usableFromInline var queue = WaitQueue()
        @usableFromInline var nextWaiterID: UInt64 = 0
        @usableFromInline var idleWaiters: [IdleWaiter] = []
        /// Permits handed to waiting callers that have not yet confirmed that they may start.
        @usableFromInline var unconfirmedHandOvers = 0
    }

    @usableFromInline let word: Atomic<Int>
    @usableFromInline let waitState: Mutex<WaitState>
    /// The configuration the executor was created with; `maximumConcurrency` is clamped to at least 1.
    public let configuration: Configuration

    /// Creates an executor that accepts work, with every permit free.
    public init(configuration: Configuration = Configuration()) {
        var configuration = configuration
        configuration.maximumConcurrency = min(max(1, configuration.maximumConcurrency), Int(UInt32.max))
        self.configuration = configuration
        self.word = Atomic(configuration.maximumConcurrency)
        var initial = WaitState()
        initial.queue.slots.reserveCapacity(16)
        self.waitState = Mutex(initial)
    }

    /// Runs a handler that does not suspend as soon as a permit is free, and returns its result.
    ///
    /// - Parameter body: the handler. It runs on the caller's task and in the caller's isolation.
    /// - Throws: what `body` throws; `CancellationError` if the task is cancelled while it waits for a permit;
    ///   ``ExecutorError`` (`stopped`, `draining`, `queueFull`) when `body` does not run.
    @inlinable
    public nonisolated(nonsending) func run<Result>(_ body: () throws -> Result) async throws -> Result {
        if !tryAcquire() { try await acquireSlowly() }
        defer { release() }
        return try body()
    }

    /// Runs an asynchronous handler as soon as a permit is free, and returns its result.
    ///
    /// The permit stays taken while `body` is suspended.
    ///
    /// - Parameter body: the handler. It runs on the caller's task and in the caller's isolation.
    /// - Throws: what `body` throws; `CancellationError` if the task is cancelled while it waits for a permit;
    ///   ``ExecutorError`` (`stopped`, `draining`, `queueFull`) when `body` does not run.
    @inlinable
    public nonisolated(nonsending) func run<Result>(
        _ body: nonisolated(nonsending) () async throws -> Result
    ) async throws -> Result {
        if !tryAcquire() { try await acquireSlowly() }
        defer { release() }
        // Marks the handler's task (and its children) as running on this executor, for `drain()`.
        let context = HandlerContext.current.pushing(.init(executor: identity, holder: 0))
        return try await HandlerContext.local.withValue(context) { try await body() }
    }

    /// The identity the executor is recorded under in a ``HandlerContext``.
    @usableFromInline let identity = ExecutorIdentity.next()

    /// The number of handlers that have started and not yet returned.
    ///
    /// A caller just handed a permit counts once it has confirmed, under the lock, that it may start. After ``stop()``
    /// returns, the handlers counted here are the only ones that can still start their bodies (they were admitted
    /// before it); no other handler starts.
    public var runningCount: Int {
        waitState.withLock { state in
            let free = word.load(ordering: .relaxed) & Self.permitsMask
            return configuration.maximumConcurrency - free - state.unconfirmedHandOvers
        }
    }

    /// Whether the executor accepts new work: `false` once ``drain()`` or ``stop()`` has been called.
    public var isAcceptingWork: Bool {
        word.load(ordering: .relaxed) & (Self.drainingFlag | Self.stoppedFlag) == 0
    }

    /// The number of callers waiting for a permit.
    public var queuedCount: Int {
        waitState.withLock { $0.queue.count }
    }

    @inlinable
    func tryAcquire() -> Bool {
        var current = word.load(ordering: .relaxed)
        while current & Self.flagsMask == 0, current > 0 {
            let (exchanged, original) = word.compareExchange(
                expected: current,
                desired: current - 1,
                successOrdering: .acquiring,
                failureOrdering: .relaxed
            )
            if exchanged { return true }
            current = original
        }
        return false
    }

    @inlinable
    func release() {
        var current = word.load(ordering: .relaxed)
        while current & Self.flagsMask == 0 {
            let (exchanged, original) = word.compareExchange(
                expected: current,
                desired: current + 1,
                successOrdering: .releasing,
                failureOrdering: .relaxed
            )
            if exchanged { return }
            current = original
        }
        releaseSlowly()
    }

    @usableFromInline
    nonisolated(nonsending) func acquireSlowly() async throws {
        let label = configuration.label
        let admission = waitState.withLock { state -> SerialLaneState.Admission in
            var current = word.load(ordering: .relaxed)
            while true {
                if current & Self.stoppedFlag != 0 { return .rejected(ExecutorError(.stopped, executorLabel: label)) }
                if current & Self.drainingFlag != 0 {
                    return .rejected(ExecutorError(.draining, executorLabel: label))
                }
                if current & Self.waitingFlag == 0, current & Self.permitsMask > 0 {
                    let (exchanged, original) = word.compareExchange(
                        expected: current,
                        desired: current - 1,
                        successOrdering: .acquiring,
                        failureOrdering: .relaxed
                    )
                    if exchanged { return .acquired }
                    current = original
                    continue
                }
                if configuration.overflowBehavior == .reject, let limit = configuration.queueLimit,
                    state.queue.count >= limit
                {
                    return .rejected(ExecutorError(.queueFull, executorLabel: label))
                }
                if current & Self.waitingFlag == 0 {
                    let (exchanged, original) = word.compareExchange(
                        expected: current,
                        desired: current | Self.waitingFlag,
                        ordering: .relaxed
                    )
                    if !exchanged {
                        current = original
                        continue
                    }
                }
                return .wait(id: state.queue.reserve(holder: 0))
            }
        }
        switch admission {
        case .acquired: return
        case .rejected(let error): throw error
        case .wait(let id): try await waitForPermit(id: id)
        }
    }

    @usableFromInline
    nonisolated(nonsending) func waitForPermit(id: UInt64) async throws {
        let label = configuration.label
        let confirmed = try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Bool, any Error>) in
                let outcome = waitState.withLock { state -> ParkOutcome in
                    switch state.queue.park(id, continuation: continuation) {
                    case .parked:
                        return .parked
                    case .granted:
                        state.unconfirmedHandOvers -= 1
                        guard let error = handOverFailure(label: label) else { return .acquired }
                        return .failed(error, release: releaseLocked(&state))
                    case .gone:
                        return .failed(waitEndedError(lifecycle, label: label), release: .none)
                    }
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
            let cancelled = waitState.withLock { state -> QueuedCaller? in
                let caller = state.queue.cancel(id)
                if state.queue.count == 0 { word.bitwiseAnd(~Self.waitingFlag, ordering: .relaxed) }
                return caller
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
        if confirmed { return }
        // Handed a permit outside the lock: it runs only if the executor has not stopped and the caller was not
        // cancelled since, so that no handler starts after `stop()` has returned.
        let (error, release) = waitState.withLock { state -> ((any Error)?, ReleaseAction) in
            state.unconfirmedHandOvers -= 1
            guard let error = handOverFailure(label: label) else { return (nil, .none) }
            return (error, releaseLocked(&state))
        }
        guard let error else { return }
        release.perform()
        throw error
    }

    /// Where the executor is in its life, from its flags.
    var lifecycle: ExecutorLifecycle {
        let current = word.load(ordering: .relaxed)
        if current & Self.stoppedFlag != 0 { return .stopped }
        return current & Self.drainingFlag != 0 ? .draining : .running
    }

    /// Why a caller just handed a permit must not start: the executor stopped, or the caller was cancelled. Read under
    /// the lock, as `stop()` sets its flag under it.
    func handOverFailure(label: String) -> (any Error)? {
        if word.load(ordering: .relaxed) & Self.stoppedFlag != 0 { return ExecutorError(.stopped, executorLabel: label) }
        if Task.isCancelled { return CancellationError() }
        return nil
    }

    @usableFromInline
    func releaseSlowly() {
        let action = waitState.withLock { releaseLocked(&$0) }
        action.perform()
    }

    /// Gives a permit back under the lock: to the oldest waiter without counting it free, or to the pool of free
    /// permits, waking `drain()` callers once a draining or stopped executor is idle.
    func releaseLocked(_ state: inout WaitState) -> ReleaseAction {
        if let grant = state.queue.popFirst() {
            state.unconfirmedHandOvers += 1
            if state.queue.count == 0 { word.bitwiseAnd(~Self.waitingFlag, ordering: .relaxed) }
            if case .parked(let next) = grant { return .handOver(next) }
            return .none
        }
        let current = word.wrappingAdd(1, ordering: .releasing).newValue
        guard current & (Self.drainingFlag | Self.stoppedFlag) != 0,
            current & Self.permitsMask == configuration.maximumConcurrency, !state.idleWaiters.isEmpty
        else { return .none }
        defer { state.idleWaiters.removeAll() }
        return .wakeIdleWaiters(state.idleWaiters)
    }

    /// Stops accepting work and waits until every handler already accepted, running or queued, has finished.
    ///
    /// Later submissions fail with ``ExecutorError/Code/draining``; queued callers still run. If the calling task is
    /// cancelled, `drain()` returns without waiting further; the work still finishes. Called inside a handler running
    /// on this executor (or a child task of one), it stops admission and returns at once: it cannot wait for the
    /// handler it is part of.
    public func drain() async {
        await waitUntilIdle(setting: Self.drainingFlag)
    }

    /// Stops the executor: every queued caller fails at once with ``ExecutorError/Code/stopped``, and so does every
    /// later submission.
    ///
    /// Once `stop()` returns, no handler starts on this executor: a caller that was handed a permit but had not yet
    /// started its handler fails with ``ExecutorError/Code/stopped`` too. Running handlers finish normally and their
    /// callers get their results. To wait for them, call ``drain()`` afterwards.
    public func stop() {
        let queued = waitState.withLock { state -> [QueuedCaller] in
            word.bitwiseOr(Self.stoppedFlag, ordering: .relaxed)
            word.bitwiseAnd(~Self.waitingFlag, ordering: .relaxed)
            return state.queue.removeAll()
        }
        let error = ExecutorError(.stopped, executorLabel: configuration.label)
        for caller in queued { caller.continuation.resume(throwing: error) }
    }

    /// Stops admission as `drain()` does, without waiting.
    func stopAdmitting() {
        waitState.withLock { _ in _ = word.bitwiseOr(Self.drainingFlag, ordering: .relaxed) }
    }

    func waitUntilIdle(setting flag: Int) async {
        let maximum = configuration.maximumConcurrency
        let insideHandler = HandlerContext.current.isInside(identity)
        let id = waitState.withLock { state -> UInt64? in
            let current = word.bitwiseOr(flag, ordering: .relaxed).newValue
            if insideHandler { return nil }
            if current & Self.permitsMask == maximum, state.queue.isEmpty { return nil }
            state.nextWaiterID &+= 1
            return state.nextWaiterID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let waits = waitState.withLock { state -> Bool in
                    let current = word.load(ordering: .relaxed)
                    if current & Self.permitsMask == maximum, state.queue.isEmpty { return false }
                    if Task.isCancelled { return false }
                    state.idleWaiters.append(IdleWaiter(id: id, continuation: continuation))
                    return true
                }
                if !waits { continuation.resume() }
            }
        } onCancel: {
            let waiter = waitState.withLock { state -> IdleWaiter? in
                guard let index = state.idleWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.idleWaiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }
}
