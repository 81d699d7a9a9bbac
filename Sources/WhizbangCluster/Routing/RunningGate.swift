import Synchronization

/// Whether a client's `run()` has not started yet, is running or has ended, and the calls that wait for it to start:
/// a call made just before a service group starts the client waits for it, within the call's own time limit, instead
/// of failing; a call made after `run()` ended fails at once.
final class RunningGate: Sendable {
    enum Phase {
        case notStarted
        case running
        case ended
    }

    private struct State {
        var phase = Phase.notStarted
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    /// Where `run()` is.
    var phase: Phase { state.withLock { $0.phase } }

    /// How many calls wait for `run()` to start.
    var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Marks `run()` as running and lets every waiting call go on.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.phase = .running
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Marks `run()` as ended: later calls fail at once, until it runs again.
    func close() { state.withLock { $0.phase = .ended } }

    /// Returns `true` once `run()` is running, at once if it is; `false` at once if it has ended, or at `deadline` or
    /// when the task is cancelled while it has not started.
    func wait(until deadline: ContinuousClock.Instant) async -> Bool {
        switch phase {
        case .running: return true
        case .ended: return false
        case .notStarted: break
        }
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
                    switch state.phase {
                    case .running: return true
                    case .ended: return false
                    case .notStarted:
                        if Task.isCancelled { return false }
                        state.waiters[id] = continuation
                        return nil
                    }
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }
}
