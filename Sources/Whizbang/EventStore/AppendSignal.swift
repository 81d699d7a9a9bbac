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
        var head: UInt64
        var isClosed = false
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state: Mutex<State>

    /// Creates a signal whose log ends at `head`.
    public init(head: UInt64 = 0) {
        self.state = Mutex(State(head: head))
    }

    /// The highest position announced so far.
    public var head: UInt64 {
        state.withLock { $0.head }
    }

    /// Announces that the log now reaches `position`, waking every waiter it passes. Lower positions are ignored.
    public func advance(to position: UInt64) {
        let woken = state.withLock { state -> [Waiter] in
            guard position > state.head else { return [] }
            state.head = position
            guard state.waiters.contains(where: { $0.position < position }) else { return [] }
            var woken: [Waiter] = []
            state.waiters.removeAll { waiter in
                guard waiter.position < position else { return false }
                woken.append(waiter)
                return true
            }
            return woken
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Fails every current and later waiter with ``EventStoreError/Code/closed``.
    public func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.isClosed = true
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
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                enum Outcome { case ready, waiting, closed, cancelled }
                let outcome = state.withLock { state -> Outcome in
                    if state.head > position { return .ready }
                    if state.isClosed { return .closed }
                    if Task.isCancelled { return .cancelled }
                    state.waiters.append(Waiter(id: id, position: position, continuation: continuation))
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
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private static var closedError: EventStoreError {
        EventStoreError(.closed, message: "the event store was closed")
    }
}
