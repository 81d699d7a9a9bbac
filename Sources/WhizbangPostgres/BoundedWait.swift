import Synchronization

/// Waits for a task to finish for a limited time, so that closing a store never waits forever on a task that does
/// not respond to cancellation.
package enum BoundedWait {
    /// Returns `true` once `task` has finished, or `false` after `limit` if it has not; the task keeps running then.
    package static func finish(_ task: Task<Void, Never>, upTo limit: Duration) async -> Bool {
        let once = Once()
        return await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
            let timer = Task {
                try? await Task.sleep(for: limit)
                if once.claim() { continuation.resume(returning: false) }
            }
            Task {
                await task.value
                timer.cancel()
                if once.claim() { continuation.resume(returning: true) }
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
