import Synchronization

/// Whether a client's `run()` is running, and the calls that wait for it to start: a call made just before a service
/// group starts the client waits for it, within the call's own time limit, instead of failing.
final class RunningGate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    /// Whether `run()` is running.
    var isOpen: Bool { state.withLock { $0.isOpen } }

    /// How many calls wait for `run()` to start.
    var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Marks `run()` as running and lets every waiting call go on.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.isOpen = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Marks `run()` as ended.
    func close() { state.withLock { $0.isOpen = false } }

    /// Returns `true` once `run()` is running, at once if it is; `false` at `deadline` or when the task is cancelled
    /// first.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        if isOpen { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForOpen() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func waitForOpen() async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool? in
                    if state.isOpen { return true }
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }
}
