public import DequeModule

/// The state of one serial lane: who holds it, and who waits for it in arrival order.
///
/// A plain value, mutated only under the lock of whatever owns it (``SerialExecutor`` or a shard of
/// ``ExecutorPool``); continuations are resumed by the owner after the lock is released.
@usableFromInline
struct SerialLaneState: Sendable {
    /// The task that holds the lane, or zero when the lane is idle.
    @usableFromInline var owner: UInt
    /// Callers waiting for the lane, oldest first.
    @usableFromInline var queue: Deque<QueuedCaller>

    @inlinable
    init(queue: Deque<QueuedCaller> = Deque()) {
        self.owner = 0
        self.queue = queue
    }

    @usableFromInline
    enum Claim {
        /// The lane was idle and now belongs to the caller.
        case acquired
        /// The lane is held by another task: the caller has to queue.
        case mustWait
        /// The lane is held by the calling task itself: queuing would wait forever.
        case reentrant
    }

    @inlinable
    var isIdle: Bool { owner == 0 }

    /// Claims the lane for `task` if it is idle.
    @inlinable
    mutating func claim(by task: UInt) -> Claim {
        if owner == 0 {
            owner = task
            return .acquired
        }
        return owner == task ? .reentrant : .mustWait
    }

    /// Claims the lane for `task` if it is idle; `false` if anyone holds it (the caller itself included).
    @inlinable
    mutating func claimIfIdle(by task: UInt) -> Bool {
        guard owner == 0 else { return false }
        owner = task
        return true
    }

    /// Gives the lane up: it passes straight to the oldest waiter, who is returned to be resumed, or becomes idle.
    @inlinable
    mutating func release() -> QueuedCaller? {
        if let next = queue.popFirst() {
            owner = next.task
            return next
        }
        owner = 0
        return nil
    }

    /// Removes the queued caller with `id`, if it is still queued (it may have been handed the lane already).
    @usableFromInline
    mutating func removeQueued(id: UInt64) -> QueuedCaller? {
        guard let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
        return queue.remove(at: index)
    }
}
