import Synchronization

/// A latch that suspends tasks until it is opened; opening it resumes every waiter, and later waits return at once.
final class TestGate: Sendable {
    private struct State {
        var isOpen = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Counts handlers running at once and remembers the highest count seen.
final class ConcurrencyProbe: Sendable {
    private let current = Atomic<Int>(0)
    private let highest = Atomic<Int>(0)

    func enter() {
        let now = current.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        var seen = highest.load(ordering: .relaxed)
        while now > seen {
            let (exchanged, original) = highest.compareExchange(
                expected: seen, desired: now, ordering: .sequentiallyConsistent)
            if exchanged { break }
            seen = original
        }
    }

    func leave() {
        current.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }

    var maximum: Int { highest.load(ordering: .sequentiallyConsistent) }
}

/// An append-only list shared between tasks.
final class Recorder<Element: Sendable>: Sendable {
    private let storage = Mutex<[Element]>([])

    func append(_ element: Element) {
        storage.withLock { $0.append(element) }
    }

    var elements: [Element] { storage.withLock { $0 } }
}

/// Yields until `condition` holds. Used to wait until callers have queued, which no event announces; each check
/// lets the other tasks run, so it needs no timing.
func yield(until condition: () -> Bool) async {
    while !condition() { await Task.yield() }
}
