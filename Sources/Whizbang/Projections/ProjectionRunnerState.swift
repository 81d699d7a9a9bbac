/// The shared state of a ``ProjectionRunner``: what it is doing, the position its projection has reached, and the
/// callers waiting for a position.
///
/// A plain value mutated under the runner's lock; each mutation returns the continuations to resume, which the
/// runner resumes after releasing the lock.
struct ProjectionRunnerState {
    enum Activity: Equatable {
        case idle
        case running
        case rebuilding
    }

    struct Waiter {
        let id: UInt64
        let target: UInt64
        let continuation: UnsafeContinuation<Void, any Error>
    }

    /// What to do with a new waiter.
    enum WaitAction {
        case resume
        case wait
        case cancel
        /// The runner has stopped and not run again: nothing would end the wait.
        case stopped
    }

    private(set) var activity = Activity.idle
    /// Whether the runner's run() has ended and the runner has not run again.
    private var hasStopped = false
    /// ``hasStopped`` when the current rebuild began, which the rebuild's end restores.
    private var hadStoppedBeforeRebuild = false
    /// The position of the last event the projection applied, once the runner has loaded or reached it.
    private(set) var position: UInt64?
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0

    /// Starts an activity; `false` if another one is in progress.
    mutating func start(_ activity: Activity) -> Bool {
        guard self.activity == .idle else { return false }
        self.activity = activity
        if activity == .rebuilding { hadStoppedBeforeRebuild = hasStopped }
        hasStopped = false
        return true
    }

    /// Ends the current activity and returns the waiters it leaves unsatisfied, to fail: all of them when a run
    /// ends. A rebuild that ends leaves the runner as it was: if it had not stopped, its waits go on waiting for
    /// run(); if it had, they fail, as a wait started then would.
    mutating func stop() -> [Waiter] {
        let wasRebuilding = activity == .rebuilding
        activity = .idle
        hasStopped = wasRebuilding ? hadStoppedBeforeRebuild : true
        guard hasStopped else { return [] }
        defer { waiters.removeAll() }
        return waiters
    }

    /// Records the projection's position, which may go back (after a reset); returns the waiters it satisfies.
    mutating func setPosition(_ newPosition: UInt64) -> [Waiter] {
        position = newPosition
        guard waiters.contains(where: { $0.target <= newPosition }) else { return [] }
        var satisfied: [Waiter] = []
        waiters.removeAll { waiter in
            guard waiter.target <= newPosition else { return false }
            satisfied.append(waiter)
            return true
        }
        return satisfied
    }

    mutating func makeWaiterID() -> UInt64 {
        nextWaiterID &+= 1
        return nextWaiterID
    }

    /// Registers a waiter for `target` unless it is already satisfied, its task is cancelled or the runner has
    /// stopped.
    mutating func wait(
        id: UInt64, for target: UInt64, continuation: UnsafeContinuation<Void, any Error>, isCancelled: Bool
    ) -> WaitAction {
        if let position, position >= target { return .resume }
        if isCancelled { return .cancel }
        if hasStopped { return .stopped }
        waiters.append(Waiter(id: id, target: target, continuation: continuation))
        return .wait
    }

    /// Removes a cancelled waiter; returns it if it was still waiting.
    mutating func cancelWaiter(id: UInt64) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index)
    }
}
