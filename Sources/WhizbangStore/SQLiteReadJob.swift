import Synchronization

/// One read's way through the reader pool, with its caller's cancellation: a plain state machine under a lock.
///
/// The caller's continuation is resumed exactly once: with the read's result, with `CancellationError` when the
/// task is cancelled before a reader takes the read, or with the error of a read that cancellation interrupted.
/// A running read is stopped through its reader's ``SQLiteReadCancellation`` flag, which the connection's progress
/// handler checks; the flag is raised under the lock and only while the read runs, so it never reaches the next
/// read on the same connection.
final class SQLiteReadJob<Result: Sendable>: Sendable {
    private enum State {
        /// Not yet queued.
        case idle
        /// Cancelled before it was queued.
        case cancelled
        /// Waiting for a reader thread.
        case queued(UnsafeContinuation<Result, any Error>)
        /// Running on a reader thread's connection.
        case running(SQLiteReadCancellation, UnsafeContinuation<Result, any Error>)
        /// The continuation was resumed.
        case finished
    }

    private let state = Mutex(State.idle)

    init() {}

    /// Records the caller's continuation; `false` (after resuming it with `CancellationError`) if the task was
    /// cancelled already.
    func enqueue(_ continuation: UnsafeContinuation<Result, any Error>) -> Bool {
        let queued = state.withLock { state in
            guard case .idle = state else { return false }
            state = .queued(continuation)
            return true
        }
        if !queued { continuation.resume(throwing: CancellationError()) }
        return queued
    }

    /// Called by the reader thread before it runs the read; `false` if the read was cancelled meanwhile.
    func start(on reader: SQLiteReadCancellation) -> Bool {
        state.withLock { state in
            guard case .queued(let continuation) = state else { return false }
            reader.reset()
            state = .running(reader, continuation)
            return true
        }
    }

    /// Resumes the caller with the read's outcome, unless it was resumed already.
    func finish(_ outcome: Swift.Result<Result, any Error>) {
        let continuation: UnsafeContinuation<Result, any Error>? = state.withLock { state in
            switch state {
            case .queued(let continuation), .running(_, let continuation):
                state = .finished
                return continuation
            case .idle, .cancelled, .finished:
                return nil
            }
        }
        continuation?.resume(with: outcome)
    }

    /// The caller's task was cancelled: drop the read if it is queued, interrupt it if it runs.
    func cancel() {
        let continuation: UnsafeContinuation<Result, any Error>? = state.withLock { state in
            switch state {
            case .idle:
                state = .cancelled
                return nil
            case .queued(let continuation):
                state = .finished
                return continuation
            case .running(let reader, _):
                reader.cancel()
                return nil
            case .cancelled, .finished:
                return nil
            }
        }
        continuation?.resume(throwing: CancellationError())
    }
}
