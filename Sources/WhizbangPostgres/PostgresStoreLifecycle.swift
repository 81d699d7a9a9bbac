import Synchronization
import Whizbang

/// Whether a store is starting, ready, failed or closed, and the tasks waiting for it to be ready or closed.
///
/// A plain state machine in a `Mutex`; continuations are resumed outside the lock.
final class PostgresStoreLifecycle: Sendable {
    private enum Phase {
        /// `run()` has not finished migrating yet; calls wait here.
        case starting
        case ready
        /// Failed to start, or closed: every call fails with this error.
        case finished(EventStoreError)
    }

    private struct State {
        var phase: Phase = .starting
        var hasRun = false
        var nextID: UInt64 = 0
        var readyWaiters: [(id: UInt64, continuation: UnsafeContinuation<Void, any Error>)] = []
        var closeWaiters: [UnsafeContinuation<Void, Never>] = []
        /// Calls that are using the connection pool right now.
        var operations = 0
        var idleWaiters: [(id: UInt64, continuation: UnsafeContinuation<Void, Never>)] = []
        /// What to run when the store finishes, with its error, by the id ``untilFinished(onFinish:_:)`` gave it.
        var finishHandlers: [UInt64: @Sendable (EventStoreError) -> Void] = [:]
    }

    private let state = Mutex(State())

    /// Marks that `run()` has started; returns `false` when it had already.
    func beginRunning() -> Bool {
        state.withLock { state in
            defer { state.hasRun = true }
            return !state.hasRun
        }
    }

    var isClosed: Bool {
        state.withLock { state in
            if case .finished = state.phase { return true }
            return false
        }
    }

    /// Returns once the store is ready; throws its error once it has failed or closed, `notReady` after `limit`,
    /// or `CancellationError` when the task is cancelled.
    func waitUntilReady(upTo limit: Duration, notReady: EventStoreError) async throws {
        let id: UInt64? = try state.withLock { state throws(EventStoreError) -> UInt64? in
            switch state.phase {
            case .ready: return nil
            case .finished(let error): throw error
            case .starting:
                state.nextID &+= 1
                return state.nextID
            }
        }
        guard let id else { return }
        // Fails the wait if the store is not ready in time (`run()` not called, or still migrating).
        let timer = Task {
            do { try await Task.sleep(for: limit) } catch { return }
            let waiter = state.withLock { state in
                state.readyWaiters.firstIndex { $0.id == id }.map { state.readyWaiters.remove(at: $0) }
            }
            waiter?.continuation.resume(throwing: notReady)
        }
        defer { timer.cancel() }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                enum Outcome { case ready, waiting, failed(EventStoreError), cancelled }
                let outcome = state.withLock { state -> Outcome in
                    switch state.phase {
                    case .ready: return .ready
                    case .finished(let error): return .failed(error)
                    case .starting:
                        if Task.isCancelled { return .cancelled }
                        state.readyWaiters.append((id, continuation))
                        return .waiting
                    }
                }
                switch outcome {
                case .ready: continuation.resume()
                case .waiting: break
                case .failed(let error): continuation.resume(throwing: error)
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.readyWaiters.firstIndex { $0.id == id }.map { state.readyWaiters.remove(at: $0) }
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Marks the store ready and wakes the calls waiting for it; does nothing once it has finished.
    func markReady() {
        let waiters = state.withLock { state -> [UnsafeContinuation<Void, any Error>] in
            guard case .starting = state.phase else { return [] }
            state.phase = .ready
            defer { state.readyWaiters = [] }
            return state.readyWaiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Finishes the store with `error`; returns `false` if it had finished already.
    @discardableResult
    func finish(with error: EventStoreError) -> Bool {
        let finished = state.withLock { state -> State? in
            if case .finished = state.phase { return nil }
            state.phase = .finished(error)
            defer {
                state.readyWaiters = []
                state.closeWaiters = []
                state.finishHandlers = [:]
            }
            return state
        }
        guard let finished else { return false }
        for handler in finished.finishHandlers.values { handler(error) }
        for waiter in finished.readyWaiters { waiter.continuation.resume(throwing: error) }
        for waiter in finished.closeWaiters { waiter.resume() }
        return true
    }

    /// Runs `operation` in a task of its own and returns what it returns, unless the store finishes first: then
    /// calls `onFinish` (which ends the operation's wait, say by closing its connection), cancels the operation and
    /// throws the store's error at once, without waiting for the operation to end. (A query that postgres-nio is
    /// handed on a connection that is closing may never complete.)
    func untilFinished<Result: Sendable>(
        onFinish: @escaping @Sendable () -> Void,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        let waiter = OnceContinuation<Result>()
        let work = Task {
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await operation())
            } catch {
                outcome = .failure(error)
            }
            _ = state.withLock { $0.finishHandlers.removeValue(forKey: id) }
            waiter.resume(with: outcome)
        }
        let stop: @Sendable (EventStoreError) -> Void = { error in
            onFinish()
            work.cancel()
            waiter.resume(with: .failure(error))
        }
        let finished = state.withLock { state -> EventStoreError? in
            if case .finished(let error) = state.phase { return error }
            state.finishHandlers[id] = stop
            return nil
        }
        if let finished { stop(finished) }
        return try await waiter.value
    }

    /// Counts a call that is about to use the connection pool; throws the store's error once it has finished, so
    /// that no call reaches the pool after closing began.
    func beginOperation() throws(EventStoreError) {
        try state.withLock { state throws(EventStoreError) in
            if case .finished(let error) = state.phase { throw error }
            state.operations += 1
        }
    }

    /// Ends a call counted by ``beginOperation()``.
    func endOperation() {
        let waiters = state.withLock { state -> [UnsafeContinuation<Void, Never>] in
            state.operations -= 1
            guard state.operations == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters.map(\.continuation)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no call is using the pool, or after `limit`, whichever comes first.
    func waitForOperations(upTo limit: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        // Resumes the wait if calls still hold the pool at the limit (a lease that waits for an unreachable server).
        let timer = Task {
            try? await Task.sleep(for: limit)
            let waiter = state.withLock { state in
                state.idleWaiters.firstIndex { $0.id == id }.map { state.idleWaiters.remove(at: $0) }
            }
            waiter?.continuation.resume()
        }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.operations == 0 { return true }
                state.idleWaiters.append((id, continuation))
                return false
            }
            if idle { continuation.resume() }
        }
        timer.cancel()
    }

    /// Returns once the store has finished.
    func waitUntilFinished() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let finished = state.withLock { state -> Bool in
                if case .finished = state.phase { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if finished { continuation.resume() }
        }
    }
}

/// A result that the first of several racers delivers to one waiter.
private final class OnceContinuation<Value: Sendable>: Sendable {
    private struct State {
        var outcome: Result<Value, any Error>?
        var continuation: UnsafeContinuation<Value, any Error>?
    }

    private let state = Mutex(State())

    /// Delivers `outcome`, unless another racer did first.
    func resume(with outcome: Result<Value, any Error>) {
        let continuation = state.withLock { state -> UnsafeContinuation<Value, any Error>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: outcome)
    }

    /// The first outcome delivered, once there is one.
    var value: Value {
        get async throws {
            try await withUnsafeThrowingContinuation { continuation in
                let outcome = state.withLock { state -> Result<Value, any Error>? in
                    if state.outcome == nil { state.continuation = continuation }
                    return state.outcome
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        }
    }
}
