extension ExecutorPool {
    /// The lanes of one shard, its lifecycle and its `drain()` callers, mutated only under the shard's lock. Each lane
    /// runs the same transitions as a ``SerialExecutor``'s (``SerialLaneState``); the shard adds only creating a lane
    /// on its first caller and removing it when its last caller is done.
    @usableFromInline
    struct ShardState: Sendable {
        @usableFromInline var lanes: [LaneKey: SerialLaneState] = [:]
        @usableFromInline var lifecycle = ExecutorLifecycle.running
        /// Where the queue of a lane that has none starts its ids: above every id this shard has given out, so a stale
        /// cancellation never names a caller of a lane created again for the same key.
        @usableFromInline var nextFreshID: UInt64 = 1
        @usableFromInline var nextWaiterID: UInt64 = 0
        @usableFromInline var idleWaiters: [IdleWaiter] = []
        /// The shard's index in its pool, part of every holder number it gives out.
        @usableFromInline let index: Int
        /// How many holder numbers this shard has given out (see ``LaneHolder``).
        @usableFromInline var holdersIssued: UInt = 0

        @inlinable
        init(index: Int) {
            self.index = index
        }

        /// A holder number no other handler of this pool has held.
        @inlinable
        mutating func makeHolder() -> UInt {
            holdersIssued &+= 1
            return LaneHolder.number(holdersIssued, shard: index)
        }

        /// Claims `key`'s lane for `holder` if it has none yet, creating it; `false` leaves everything to the slow
        /// path.
        @inlinable
        mutating func tryClaim(_ key: LaneKey, by holder: UInt) -> Bool {
            guard lifecycle == .running else { return false }
            return lanes[key, default: SerialLaneState()].claimIfIdle(by: holder)
        }

        /// As ``tryClaim(_:by:)``, under a new holder number, which it returns; 0 when it leaves everything to the
        /// slow path.
        @inlinable
        mutating func tryClaimSuspending(_ key: LaneKey) -> UInt {
            guard lifecycle == .running else { return 0 }
            let holder = makeHolder()
            return lanes[key, default: SerialLaneState()].claimIfIdle(by: holder) ? holder : 0
        }

        @usableFromInline
        mutating func admit(
            _ key: LaneKey,
            holder: UInt,
            context: HandlerContext,
            executor: UInt,
            configuration: Configuration
        ) -> SerialLaneState.Admission {
            // Checked before the lane is looked up, so that a refused caller never creates one.
            if let rejection = lifecycle.rejection(label: configuration.label) { return .rejected(rejection) }
            let admission = lanes[key, default: SerialLaneState()].admit(
                holder: holder, context: context, executor: executor, lifecycle: lifecycle,
                queueLimit: configuration.queueLimit, overflowBehavior: configuration.overflowBehavior,
                label: configuration.label, freshID: nextFreshID)
            if case .wait(let id) = admission { nextFreshID = max(nextFreshID, id &+ 1) }
            return admission
        }

        @usableFromInline
        mutating func park(
            _ key: LaneKey,
            id: UInt64,
            continuation: UnsafeContinuation<Bool, any Error>,
            label: String
        ) -> ParkOutcome {
            guard let index = lanes.index(forKey: key) else {
                return .failed(waitEndedError(lifecycle, label: label), release: .none)
            }
            switch lanes.values[index].park(id, continuation: continuation, lifecycle: lifecycle, label: label) {
            case .parked: return .parked
            case .acquired: return .acquired
            case .failed(let error, let mustRelease): return .failed(error, release: mustRelease ? release(key) : .none)
            }
        }

        @usableFromInline
        mutating func cancel(_ key: LaneKey, id: UInt64) -> QueuedCaller? {
            guard let index = lanes.index(forKey: key) else { return nil }
            return lanes.values[index].queue.cancel(id)
        }

        @usableFromInline
        mutating func confirmHandOver(_ key: LaneKey, label: String) -> ((any Error)?, ReleaseAction) {
            guard let index = lanes.index(forKey: key),
                let error = lanes.values[index].confirmHandOver(lifecycle: lifecycle, label: label)
            else { return (nil, .none) }
            return (error, release(key))
        }

        /// Gives `key`'s lane up: to its oldest waiter if it has one; otherwise the lane is removed, and once a draining
        /// or stopped shard has no lanes left its `drain()` callers are woken.
        @inlinable
        mutating func release(_ key: LaneKey) -> ReleaseAction {
            guard let index = lanes.index(forKey: key) else { return .none }
            if let next = lanes.values[index].release() { return .handOver(next) }
            if lanes.values[index].isInUse { return .none }
            lanes.remove(at: index)
            if lifecycle == .running || !lanes.isEmpty || idleWaiters.isEmpty { return .none }
            defer { idleWaiters.removeAll() }
            return .wakeIdleWaiters(idleWaiters)
        }

        /// Stops admission for good and takes every waiting caller of every lane, to be failed with `stopped`.
        @usableFromInline
        mutating func stop() -> [QueuedCaller] {
            lifecycle = .stopped
            var queued: [QueuedCaller] = []
            for index in lanes.indices {
                queued.append(contentsOf: lanes.values[index].queue.removeAll())
            }
            return queued
        }
    }
}
