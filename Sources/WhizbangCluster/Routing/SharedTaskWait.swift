import Synchronization

/// Waits for a task that the caller shares with others, and so must not cancel, until it finishes, a deadline passes
/// or the caller is cancelled, whichever comes first.
///
/// Awaiting a task's value directly does not end when the awaiting task is cancelled; this wait does, and leaves the
/// shared task running for the others.
enum SharedTaskWait {
    /// How the wait ended.
    enum Outcome: Sendable {
        /// The task finished, with its result.
        case finished(Result<Void, any Error>)
        /// The deadline passed first.
        case timedOut
        /// The caller was cancelled first.
        case cancelled
    }

    /// Waits for `task` until it finishes, `deadline` (if any) passes, or the calling task is cancelled.
    static func wait(for task: Task<Void, any Error>, until deadline: ContinuousClock.Instant?) async -> Outcome {
        let first = FirstOutcome()
        let watcher = Task { first.offer(.finished(await task.result)) }
        let timer = deadline.map { deadline in
            Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                first.offer(.timedOut)
            }
        }
        let outcome = await withTaskCancellationHandler {
            await withUnsafeContinuation { first.install($0) }
        } onCancel: {
            first.offer(.cancelled)
        }
        timer?.cancel()
        _ = watcher
        return outcome
    }

    /// The first outcome offered, handed to the waiter once it is installed.
    private final class FirstOutcome: Sendable {
        private struct State {
            var continuation: UnsafeContinuation<Outcome, Never>?
            var early: Outcome?
            var done = false
        }

        private let state = Mutex(State())

        func install(_ continuation: UnsafeContinuation<Outcome, Never>) {
            let early = state.withLock { state -> Outcome? in
                if let early = state.early {
                    state.done = true
                    return early
                }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }

        func offer(_ outcome: Outcome) {
            let continuation = state.withLock { state -> UnsafeContinuation<Outcome, Never>? in
                guard !state.done else { return nil }
                guard let continuation = state.continuation else {
                    if state.early == nil { state.early = outcome }
                    return nil
                }
                state.done = true
                state.continuation = nil
                return continuation
            }
            continuation?.resume(returning: outcome)
        }
    }
}
