extension SerialExecutor {
    /// Everything a serial executor knows, mutated only under its lock: its one lane, its lifecycle and its
    /// `drain()` callers. Each method is one transition; continuations it returns are resumed after the lock is
    /// released.
    @usableFromInline
    struct State: Sendable {
        @usableFromInline var lane = SerialLaneState()
        @usableFromInline var lifecycle = ExecutorLifecycle.running
        @usableFromInline var nextWaiterID: UInt64 = 0
        @usableFromInline var idleWaiters: [IdleWaiter] = []
        /// How many holder numbers this executor has given out (see ``LaneHolder``).
        @usableFromInline var holdersIssued: UInt = 0

        @inlinable
        init() {}

        /// A holder number no other handler of this executor has held.
        @inlinable
        mutating func makeHolder() -> UInt {
            holdersIssued &+= 1
            return LaneHolder.number(holdersIssued, shard: 0)
        }

        @inlinable
        mutating func admit(
            holder: UInt,
            context: HandlerContext,
            executor: UInt,
            configuration: Configuration
        ) -> SerialLaneState.Admission {
            lane.admit(
                holder: holder, context: context, executor: executor, lifecycle: lifecycle,
                queueLimit: configuration.queueLimit, overflowBehavior: configuration.overflowBehavior,
                label: configuration.label)
        }

        @inlinable
        mutating func park(_ id: UInt64, continuation: UnsafeContinuation<Bool, any Error>, label: String)
            -> ParkOutcome
        {
            switch lane.park(id, continuation: continuation, lifecycle: lifecycle, label: label) {
            case .parked: return .parked
            case .acquired: return .acquired
            case .failed(let error, let mustRelease): return .failed(error, release: mustRelease ? release() : .none)
            }
        }

        /// Confirms the hand-over to the caller now running, or gives the lane back and says why it must not run.
        @inlinable
        mutating func confirmHandOver(label: String) -> ((any Error)?, ReleaseAction) {
            guard let error = lane.confirmHandOver(lifecycle: lifecycle, label: label) else { return (nil, .none) }
            return (error, release())
        }

        /// Gives the lane up: to the oldest waiter if there is one; otherwise the lane becomes idle, and a draining or
        /// stopped executor's `drain()` callers are woken.
        @inlinable
        mutating func release() -> ReleaseAction {
            if let next = lane.release() { return .handOver(next) }
            if !lane.isIdle || lifecycle == .running || idleWaiters.isEmpty { return .none }
            defer { idleWaiters.removeAll() }
            return .wakeIdleWaiters(idleWaiters)
        }

        /// Stops admission for good and takes every waiting caller, to be failed with `stopped`.
        @inlinable
        mutating func stop() -> [QueuedCaller] {
            lifecycle = .stopped
            return lane.queue.removeAll()
        }
    }
}
