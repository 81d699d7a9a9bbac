/// Where an executor is in its life: accepting work, finishing what it accepted, or stopped.
@usableFromInline
enum ExecutorLifecycle: Sendable {
    case running
    case draining
    case stopped

    /// The error a new submission gets, or `nil` while work is accepted.
    @inlinable
    func rejection(label: String) -> ExecutorError? {
        switch self {
        case .running: nil
        case .draining: ExecutorError(.draining, executorLabel: label)
        case .stopped: ExecutorError(.stopped, executorLabel: label)
        }
    }
}

/// A caller suspended until it is handed a serial lane or a permit.
@usableFromInline
struct QueuedCaller: Sendable {
    @usableFromInline let id: UInt64
    /// The waiting task, which becomes the lane's owner when the lane is handed to it.
    @usableFromInline let task: UInt
    @usableFromInline let continuation: UnsafeContinuation<Void, any Error>

    @inlinable
    init(id: UInt64, task: UInt, continuation: UnsafeContinuation<Void, any Error>) {
        self.id = id
        self.task = task
        self.continuation = continuation
    }
}

/// A task waiting in `drain()` until an executor has no work left.
@usableFromInline
struct IdleWaiter: Sendable {
    @usableFromInline let id: UInt64
    @usableFromInline let continuation: UnsafeContinuation<Void, Never>
}

/// What happened to a caller that tried to join a queue.
@usableFromInline
enum EnqueueOutcome {
    /// The lane or permit came free in the meantime and is the caller's.
    case acquired
    /// The caller is queued and will be resumed by a release, a stop or its cancellation.
    case queued
    /// The caller will not run.
    case failed(any Error)
}

/// What a release leaves to do once the lock is released.
@usableFromInline
enum ReleaseAction {
    /// Nothing: the lane or permit is free (the common case).
    case none
    /// Resume the caller that was handed the lane or permit.
    case handOver(QueuedCaller)
    /// The executor is draining or stopped and has just become idle: resume the callers of `drain()`.
    case wakeIdleWaiters([IdleWaiter])

    /// Resumes whom the action names; called after the lock is released. Out of line: the common `.none` is
    /// handled by the caller without a call.
    @usableFromInline
    func perform() {
        switch self {
        case .none: break
        case .handOver(let next): next.continuation.resume()
        case .wakeIdleWaiters(let waiters): for waiter in waiters { waiter.continuation.resume() }
        }
    }
}
