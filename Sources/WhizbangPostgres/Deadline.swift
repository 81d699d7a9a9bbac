import Synchronization

/// Runs work on the database with a deadline, so that no caller waits forever for a server that does not answer or
/// for a query that the client lost.
///
/// The work runs in a task of its own and the caller waits for whichever comes first: the work's result, or the
/// deadline. At the deadline the caller gets ``Exceeded`` at once, the work is cancelled and `onDeadline` runs (it
/// closes the connection the work uses); the caller never waits for the work to notice. A postgres-nio query handed
/// to a connection that is already closing may never complete at all, which is why the caller must not await the
/// work itself.
enum Deadline {
    /// The deadline passed before the work finished.
    struct Exceeded: Error {
        /// Whether the work had a connection when the deadline passed: `false` when it still waited for one.
        var hadConnection: Bool
    }

    /// The connection a piece of work uses, if it has one yet; closed when the deadline passes.
    final class ConnectionSlot: Sendable {
        private enum State {
            case waiting
            case leased(@Sendable () -> Void)
            case expired
        }

        private let state = Mutex(State.waiting)

        /// Records how to close the connection the work now holds; closes it at once if the deadline already passed.
        func hold(close: @escaping @Sendable () -> Void) {
            let expired = state.withLock { state -> Bool in
                if case .expired = state { return true }
                state = .leased(close)
                return false
            }
            if expired { close() }
        }

        /// Forgets the connection once the work is done with it: it goes back to the pool, and another request may
        /// lease it, so the deadline must not close it any more.
        func release() {
            state.withLock { state in
                if case .leased = state { state = .waiting }
            }
        }

        /// Marks the deadline as passed and closes the held connection; returns whether there was one.
        fileprivate func expire() -> Bool {
            let close = state.withLock { state -> (@Sendable () -> Void)? in
                defer { state = .expired }
                if case .leased(let close) = state { return close }
                return nil
            }
            close?()
            return close != nil
        }
    }

    /// Runs `operation`, giving up on it after `limit`.
    ///
    /// - Throws: ``Exceeded`` after `limit`; otherwise what `operation` throws. When the calling task is cancelled,
    ///   the operation is cancelled and its outcome (usually a cancellation error) is returned.
    static func run<Result: Sendable>(
        upTo limit: Duration,
        _ operation: @escaping @Sendable (ConnectionSlot) async throws -> Result
    ) async throws -> Result {
        let race = Race<Result>()
        let slot = ConnectionSlot()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Result, any Error>) in
                race.start(continuation)
                let work = Task {
                    do {
                        let result = try await operation(slot)
                        race.finish { .success(result) }
                    } catch {
                        race.finish { .failure(error) }
                    }
                }
                let timer = Task {
                    do { try await Task.sleep(for: limit) } catch { return }
                    if race.finish({ .failure(Exceeded(hadConnection: slot.expire())) }) { work.cancel() }
                }
                race.attach(work: work, timer: timer)
            }
        } onCancel: {
            race.cancelWork()
        }
    }

    /// Lets the first of the work and the timer resume the caller, and stops the other.
    private final class Race<Result: Sendable>: Sendable {
        private struct State {
            var continuation: UnsafeContinuation<Result, any Error>?
            var finished = false
            var cancelled = false
            var work: Task<Void, Never>?
            var timer: Task<Void, Never>?
        }

        private let state = Mutex(State())

        func start(_ continuation: UnsafeContinuation<Result, any Error>) {
            state.withLock { $0.continuation = continuation }
        }

        func attach(work: Task<Void, Never>, timer: Task<Void, Never>) {
            let (finished, cancelled) = state.withLock { state -> (Bool, Bool) in
                state.work = work
                state.timer = timer
                return (state.finished, state.cancelled)
            }
            if finished { timer.cancel() }
            if cancelled { work.cancel() }
        }

        /// Resumes the caller with `result()` unless the other side did first; returns whether this call did.
        /// `result` runs only for the winner.
        @discardableResult
        func finish(_ result: () -> Swift.Result<Result, any Error>) -> Bool {
            let (continuation, timer) = state.withLock {
                state -> (UnsafeContinuation<Result, any Error>?, Task<Void, Never>?) in
                guard !state.finished, let continuation = state.continuation else { return (nil, nil) }
                state.finished = true
                state.continuation = nil
                return (continuation, state.timer)
            }
            guard let continuation else { return false }
            timer?.cancel()
            continuation.resume(with: result())
            return true
        }

        func cancelWork() {
            let work = state.withLock { state -> Task<Void, Never>? in
                state.cancelled = true
                return state.work
            }
            work?.cancel()
        }
    }
}
