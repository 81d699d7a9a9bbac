extension SQLiteEventStore {
    /// Whether a store is open, closing or closed, and the callers waiting for it to be closed (a task's
    /// continuation, or a blocked thread's semaphore).
    enum ClosingState {
        case open
        case closing(waiters: [@Sendable () -> Void])
        case closed

        /// What ``wait(_:)`` asks its caller to do.
        enum WaitAction {
            /// Close the store; the waiter is called when that is done.
            case close
            /// Nothing: the waiter is called when the closing under way is done.
            case wait
            /// Go on (the waiter is not called): the store is closed.
            case resume
        }

        /// Starts closing an open store; `false` if it is closing or closed already.
        mutating func begin() -> Bool {
            guard case .open = self else { return false }
            self = .closing(waiters: [])
            return true
        }

        /// Registers a caller that waits for the store to be closed: `waiter` is called once it is.
        mutating func wait(_ waiter: @escaping @Sendable () -> Void) -> WaitAction {
            switch self {
            case .open:
                self = .closing(waiters: [waiter])
                return .close
            case .closing(var waiters):
                waiters.append(waiter)
                self = .closing(waiters: waiters)
                return .wait
            case .closed:
                return .resume
            }
        }

        /// Marks the store closed and returns the waiters to call.
        mutating func finish() -> [@Sendable () -> Void] {
            guard case .closing(let waiters) = self else { return [] }
            self = .closed
            return waiters
        }
    }
}
