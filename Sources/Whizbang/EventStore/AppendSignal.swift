import Synchronization

/// Wakes tasks waiting for the global log to pass a position; stores use it to implement
/// ``EventStore/waitForEvents(after:)``.
///
/// A store calls ``advance(to:)`` after each commit becomes visible to readers, and ``close()`` when it closes.
public final class AppendSignal: Sendable {
    private struct Waiter {
        let id: UInt64
        let position: UInt64
        let continuation: UnsafeContinuation<Void, any Error>
    }

    private struct State {
        var isClosed = false
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state: Mutex<State>
    /// Whether any task waits, read without the lock so that an append with nobody waiting takes no lock here.
    ///
    /// A waiter sets it (under the lock) before it reads the head a last time; ``advance(to:)`` publishes the head
    /// before it reads the flag. Both are sequentially consistent, so either the waiter sees the new head or the
    /// advance sees the flag: no wake-up is lost.
    private let hasWaiters = Atomic<Bool>(false)
    private let announcedHead: Atomic<UInt64>

    /// Creates a signal whose log ends at `head`.
    public init(head: UInt64 = 0) {
        self.state = Mutex(State())
        self.announcedHead = Atomic(head)
    }

    /// The highest position announced so far.
    public var head: UInt64 {
        announcedHead.load(ordering: .sequentiallyConsistent)
    }

    /// Announces that the log now reaches `position`, waking every waiter it passes. Lower positions are ignored.
    public func advance(to position: UInt64) {
        var current = announcedHead.load(ordering: .relaxed)
        while position > current {
            let (exchanged, original) = announcedHead.compareExchange(
                expected: current, desired: position, ordering: .sequentiallyConsistent)
            if exchanged { break }
            current = original
        }
        guard position > current, hasWaiters.load(ordering: .sequentiallyConsistent) else { return }
        let woken = state.withLock { state -> [Waiter] in
            let head = announcedHead.load(ordering: .sequentiallyConsistent)
            var woken: [Waiter] = []
            state.waiters.removeAll { waiter in
                guard waiter.position < head else { return false }
                woken.append(waiter)
                return true
            }
            hasWaiters.store(!state.waiters.isEmpty, ordering: .sequentiallyConsistent)
            return woken
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Moves the head back to `position` if it is still `expected`: for a store that read its log's head below
    /// what it had announced (commits a server crash lost, under a durability that acknowledges before the flush).
    /// The head read must be taken after `expected` was: an announcement since (an append that committed meanwhile)
    /// keeps the head where it is. Wakes no one.
    ///
    /// - Returns: whether the head moved back.
    @discardableResult
    public func lower(from expected: UInt64, to position: UInt64) -> Bool {
        guard position < expected else { return false }
        return announcedHead.compareExchange(expected: expected, desired: position, ordering: .sequentiallyConsistent)
            .exchanged
    }

    /// Fails every current and later waiter with ``EventStoreError/Code/closed``.
    public func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.isClosed = true
            hasWaiters.store(false, ordering: .sequentiallyConsistent)
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
    }

    /// Returns once the head passes `position`; at once if it already has.
    ///
    /// - Throws: `CancellationError` if the task is cancelled first, ``EventStoreError/Code/closed`` after
    ///   ``close()``.
    public func wait(after position: UInt64) async throws {
        if announcedHead.load(ordering: .sequentiallyConsistent) > position { return }
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                enum Outcome { case ready, waiting, closed, cancelled }
                let outcome = state.withLock { state -> Outcome in
                    if announcedHead.load(ordering: .sequentiallyConsistent) > position { return .ready }
                    if state.isClosed { return .closed }
                    if Task.isCancelled { return .cancelled }
                    state.waiters.append(Waiter(id: id, position: position, continuation: continuation))
                    hasWaiters.store(true, ordering: .sequentiallyConsistent)
                    // An advance that published its head before the flag was set did not look for waiters.
                    if announcedHead.load(ordering: .sequentiallyConsistent) > position {
                        state.waiters.removeLast()
                        hasWaiters.store(!state.waiters.isEmpty, ordering: .sequentiallyConsistent)
                        return .ready
                    }
                    return .waiting
                }
                switch outcome {
                case .ready: continuation.resume()
                case .waiting: break
                case .closed: continuation.resume(throwing: Self.closedError)
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                defer { hasWaiters.store(!state.waiters.isEmpty, ordering: .sequentiallyConsistent) }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private static var closedError: EventStoreError {
        EventStoreError(.closed, message: "the event store was closed")
    }
}
