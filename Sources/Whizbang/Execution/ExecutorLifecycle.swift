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
///
/// Its continuation is resumed with `false` by a hand-over (the caller then confirms under the lock that the executor
/// has not stopped and it was not cancelled in the meantime) or with `true` when that was already checked.
@usableFromInline
struct QueuedCaller: Sendable {
    @usableFromInline let id: UInt64
    /// The holder the caller claims the lane as (see ``LaneHolder``), which becomes the lane's owner when the lane is
    /// handed to it.
    @usableFromInline let holder: UInt
    @usableFromInline let continuation: UnsafeContinuation<Bool, any Error>

    @inlinable
    init(id: UInt64, holder: UInt, continuation: UnsafeContinuation<Bool, any Error>) {
        self.id = id
        self.holder = holder
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
enum ParkOutcome {
    /// The caller waits; it is resumed by a hand-over, a stop or its cancellation.
    case parked
    /// The caller was handed the lane or a permit before it suspended, and it still may run.
    case acquired
    /// The caller will not run; `release` gives back what it was handed, if anything.
    case failed(any Error, release: ReleaseAction)
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
        case .handOver(let next): next.continuation.resume(returning: false)
        case .wakeIdleWaiters(let waiters): for waiter in waiters { waiter.continuation.resume() }
        }
    }
}

/// The error a caller that was waiting gets when it is not to run: `stopped` once the executor has stopped,
/// otherwise its cancellation.
@usableFromInline
func waitEndedError(_ lifecycle: ExecutorLifecycle, label: String) -> any Error {
    lifecycle == .stopped ? ExecutorError(.stopped, executorLabel: label) : CancellationError()
}
