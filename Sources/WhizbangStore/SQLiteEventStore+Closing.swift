extension SQLiteEventStore {
    /// Whether a store is open, closing or closed, and the tasks waiting for it to be closed.
    enum ClosingState {
        case open
        case closing(waiters: [UnsafeContinuation<Void, Never>])
        case closed

        /// What ``wait(_:)`` asks its caller to do.
        enum WaitAction {
            /// Close the store; the continuation is resumed when that is done.
            case close
            /// Nothing: the continuation is resumed when the closing under way is done.
            case wait
            /// Resume the continuation: the store is closed.
            case resume
        }

        /// Starts closing an open store; `false` if it is closing or closed already.
        mutating func begin() -> Bool {
            guard case .open = self else { return false }
            self = .closing(waiters: [])
            return true
        }

        /// Registers a task that waits for the store to be closed.
        mutating func wait(_ continuation: UnsafeContinuation<Void, Never>) -> WaitAction {
            switch self {
            case .open:
                self = .closing(waiters: [continuation])
                return .close
            case .closing(var waiters):
                waiters.append(continuation)
                self = .closing(waiters: waiters)
                return .wait
            case .closed:
                return .resume
            }
        }

        /// Marks the store closed and returns the tasks to resume.
        mutating func finish() -> [UnsafeContinuation<Void, Never>] {
            guard case .closing(let waiters) = self else { return [] }
            self = .closed
            return waiters
        }
    }
}
