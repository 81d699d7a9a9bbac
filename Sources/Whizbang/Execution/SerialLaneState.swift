/// The state of one serial lane: who holds it, and who waits for it in arrival order.
///
/// A plain value, mutated only under the lock of whatever owns it (``SerialExecutor`` or a shard of
/// ``ExecutorPool``); continuations are resumed by the owner after the lock is released.
@usableFromInline
struct SerialLaneState: Sendable {
    /// The holder number of the lane's owner (see ``LaneHolder``), or zero when the lane is idle.
    @usableFromInline var owner: UInt
    /// Whether the owner may start (or has started) its handler: `false` between a hand-over and the new owner's
    /// confirmation, during which `stop()` or a cancellation still keeps it from starting.
    @usableFromInline var ownerConfirmed: Bool
    /// Callers waiting for the lane, oldest first.
    @usableFromInline var queue: WaitQueue

    @inlinable
    init() {
        self.owner = 0
        self.ownerConfirmed = false
        self.queue = WaitQueue()
    }

    @usableFromInline
    enum Claim {
        /// The lane was idle and now belongs to the caller.
        case acquired
        /// The lane is held for someone else: the caller has to queue.
        case mustWait
        /// The lane is held for a handler the caller runs inside: queuing would wait forever.
        case reentrant
    }

    @inlinable
    var isIdle: Bool { owner == 0 }

    /// Claims the lane for `holder` if it is idle. `context` is the caller's ``HandlerContext``, and `executor` the
    /// identity the lane's executor is recorded under in it.
    @inlinable
    mutating func claim(by holder: UInt, context: HandlerContext, executor: UInt) -> Claim {
        if owner == 0 {
            owner = holder
            ownerConfirmed = true
            return .acquired
        }
        return context.isHeld(by: owner, in: executor) ? .reentrant : .mustWait
    }

    /// Claims the lane for `holder` if it is idle; `false` if anyone holds it (the caller itself included).
    @inlinable
    mutating func claimIfIdle(by holder: UInt) -> Bool {
        guard owner == 0 else { return false }
        owner = holder
        ownerConfirmed = true
        return true
    }

    /// Gives the lane up: it passes straight to the oldest waiter, returned to be resumed if it had suspended, or
    /// becomes idle.
    @inlinable
    mutating func release() -> QueuedCaller? {
        if let grant = queue.popFirst() {
            owner = grant.holder
            ownerConfirmed = false
            if case .parked(let caller) = grant { return caller }
            return nil
        }
        owner = 0
        ownerConfirmed = false
        return nil
    }

    /// Whether a handler runs on the lane: held by an owner that has started, or may start, its handler.
    @inlinable
    var hasRunningHandler: Bool { owner != 0 && ownerConfirmed }

    /// Whether the lane is held or has callers still to answer.
    @inlinable
    var isInUse: Bool { owner != 0 || !queue.isEmpty }

    /// What a caller that did not get the lane on the fast path does next.
    @usableFromInline
    enum Admission {
        case acquired
        /// Reserved in the queue under `id`; the caller parks next.
        case wait(id: UInt64)
        case rejected(any Error)
    }

    /// Admits a caller: the lane if it is idle, a place in the queue if not, or the reason it does not run.
    ///
    /// - Parameters:
    ///   - holder: the number the caller holds the lane under (see ``LaneHolder``).
    ///   - executor: the identity the lane's executor is recorded under in a ``HandlerContext``.
    ///   - freshID: where an empty queue starts its ids (see ``WaitQueue/reserve(holder:freshID:)``).
    @inlinable
    mutating func admit(
        holder: UInt,
        context: HandlerContext,
        executor: UInt,
        lifecycle: ExecutorLifecycle,
        queueLimit: Int?,
        overflowBehavior: OverflowBehavior,
        label: String,
        freshID: UInt64? = nil
    ) -> Admission {
        if let rejection = lifecycle.rejection(label: label) { return .rejected(rejection) }
        switch claim(by: holder, context: context, executor: executor) {
        case .acquired:
            return .acquired
        case .reentrant:
            return .rejected(ExecutorError(.reentrantSubmission, executorLabel: label))
        case .mustWait:
            if overflowBehavior == .reject, let queueLimit, queue.count >= queueLimit {
                return .rejected(ExecutorError(.queueFull, executorLabel: label))
            }
            return .wait(id: queue.reserve(holder: holder, freshID: freshID))
        }
    }

    /// What a caller finds when it parks.
    @usableFromInline
    enum Parking {
        case parked
        case acquired
        /// It does not run; if `mustRelease`, it had been handed the lane and the owner releases it.
        case failed(any Error, mustRelease: Bool)
    }

    /// Parks the reserved caller `id`, or tells it what happened to it since it was admitted.
    @inlinable
    mutating func park(
        _ id: UInt64,
        continuation: UnsafeContinuation<Bool, any Error>,
        lifecycle: ExecutorLifecycle,
        label: String
    ) -> Parking {
        switch queue.park(id, continuation: continuation) {
        case .parked:
            return .parked
        case .granted:
            if let error = handOverFailure(lifecycle: lifecycle, label: label) {
                return .failed(error, mustRelease: true)
            }
            ownerConfirmed = true
            return .acquired
        case .gone:
            return .failed(waitEndedError(lifecycle, label: label), mustRelease: false)
        }
    }

    /// Why a caller just handed the lane must not start its handler after all: the executor stopped, or the caller
    /// was cancelled, before it confirmed. Read under the lock, so `stop()` and the confirmation are ordered.
    @inlinable
    func handOverFailure(lifecycle: ExecutorLifecycle, label: String) -> (any Error)? {
        if lifecycle == .stopped { return ExecutorError(.stopped, executorLabel: label) }
        if Task.isCancelled { return CancellationError() }
        return nil
    }

    /// Confirms the hand-over to the caller now running: `nil` if it may start its handler (it is marked as
    /// running), otherwise why not; the owner then releases the lane.
    @inlinable
    mutating func confirmHandOver(lifecycle: ExecutorLifecycle, label: String) -> (any Error)? {
        if let error = handOverFailure(lifecycle: lifecycle, label: label) { return error }
        ownerConfirmed = true
        return nil
    }
}
