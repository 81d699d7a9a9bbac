import Synchronization

/// Waits for a task to finish for a limited time, so that closing a store never waits forever on a task that does
/// not respond to cancellation.
package enum BoundedWait {
    /// Returns `true` once `task` has finished, or `false` after `limit` if it has not; the task keeps running then.
    package static func finish(_ task: Task<Void, Never>, upTo limit: Duration) async -> Bool {
        let once = Once()
        return await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
            // The timer claims only once its sleep has ended, never when the watcher's cancellation wakes it; the
            // watcher claims before it cancels the timer.
            let timer = Task {
                guard (try? await Task.sleep(for: limit)) != nil, once.claim() else { return }
                continuation.resume(returning: false)
            }
            Task {
                await task.value
                guard once.claim() else { return }
                timer.cancel()
                continuation.resume(returning: true)
            }
        }
    }

    /// Lets exactly one of two racers resume a continuation.
    private final class Once: Sendable {
        private let claimed = Atomic(false)

        func claim() -> Bool {
            !claimed.exchange(true, ordering: .acquiringAndReleasing)
        }
    }
}
