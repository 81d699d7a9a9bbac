import Synchronization

/// The deadlines of a store's requests to the database, watched by one timer for the whole store, so that no caller
/// waits forever for a server that does not answer or for a query that the client lost.
///
/// A request's work runs in a task of its own and its caller waits on a continuation that the first of two resumes:
/// the work, with its result, or the timer, with ``Exceeded``. At the deadline the caller gets ``Exceeded`` at once,
/// the work is cancelled and the connection it holds is closed; the caller never waits for the work to notice. A
/// postgres-nio query handed to a connection that is already closing may never complete at all, which is why the
/// caller must not await the work itself.
///
/// A request has two deadlines, one per phase: leasing a connection (which may mean connecting and authenticating)
/// within `leaseLimit`, then its statements within `workLimit` from the moment it holds the connection.
///
/// The timer is a loop (``run()``) that wakes every ``tick`` while requests are in flight and parks while there are
/// none; so a request costs one task and no timer of its own, and a deadline is noticed at most one tick late.
final class RequestDeadlines: Sendable {
    /// The deadline passed before the work finished.
    struct Exceeded: Error {
        /// Whether the work held a connection when the deadline passed: `false` when it still waited for one.
        var hadConnection: Bool
        /// The limit of the phase that the request was in.
        var limit: Duration
    }

    /// The timer has stopped (the store is closing): no new request starts, and those still in flight fail.
    struct Stopped: Error {}

    private struct State {
        var requests: [UInt64: any ExpiringRequest] = [:]
        var nextID: UInt64 = 0
        var parked: UnsafeContinuation<Void, Never>? = nil
        var stopped = false
    }

    /// How often the timer checks the deadlines while requests are in flight.
    let tick: Duration
    private let state = Mutex(State())
    private let origin = ContinuousClock.now

    /// - Parameter tick: how late at most a deadline is noticed.
    init(tick: Duration) {
        self.tick = tick
    }

    /// The tick for a store whose shortest limit is `limit`: a sixteenth of it, from 1 to 100 milliseconds.
    static func tick(forShortestLimit limit: Duration) -> Duration {
        min(.milliseconds(100), max(.milliseconds(1), limit / 16))
    }

    /// Nanoseconds since the timer was made: the clock of the deadlines, which fits an atomic.
    fileprivate func now() -> Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - origin).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole nanoseconds of `duration` taken as a time limit (at most 100 years, which fits an `Int64`).
    fileprivate static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.asTimeLimit.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Runs `operation` in a task of its own, giving up on it when it has no connection after `leaseLimit` or has
    /// held one for `workLimit`. The operation calls ``Request/hold(close:)`` once it holds a connection and
    /// ``Request/release()`` when it gives it back.
    ///
    /// - Throws: ``Exceeded`` at a deadline; ``Stopped`` when the timer has stopped; `CancellationError` at once
    ///   when the calling task is cancelled (the operation is then cancelled and the connection it holds closed, as
    ///   at a deadline: a statement behind a lock, or on a server that stopped answering, does not notice the
    ///   cancellation, and whether a write it made committed is unknown); otherwise what `operation` throws.
    func run<Result: Sendable>(
        leaseLimit: Duration,
        workLimit: Duration,
        _ operation: @escaping @Sendable (Request) async throws -> Result
    ) async throws -> Result {
        let request = Request(
            deadlines: self, leaseLimit: leaseLimit, workLimit: workLimit, deadline: now() + Self.nanoseconds(leaseLimit))
        let race = Race<Result>(request: request)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Result, any Error>) in
                guard race.start(continuation) else { return }
                guard let id = insert(race) else {
                    race.finish { .failure(Stopped()) }
                    return
                }
                let work = Task {
                    let outcome: Swift.Result<Result, any Error>
                    do {
                        outcome = .success(try await operation(request))
                    } catch {
                        outcome = .failure(error)
                    }
                    self.remove(id)
                    race.finish { outcome }
                }
                race.attach(work: work)
            }
        } onCancel: {
            race.cancel()
        }
    }

    /// Registers a request; `nil` once the timer has stopped.
    private func insert(_ request: some ExpiringRequest) -> UInt64? {
        let (id, parked) = state.withLock { state -> (UInt64?, UnsafeContinuation<Void, Never>?) in
            guard !state.stopped else { return (nil, nil) }
            let id = state.nextID
            state.nextID &+= 1
            state.requests[id] = request
            defer { state.parked = nil }
            return (id, state.parked)
        }
        parked?.resume()
        return id
    }

    private func remove(_ id: UInt64) {
        state.withLock { _ = $0.requests.removeValue(forKey: id) }
    }

    /// Checks the deadlines every ``tick`` while requests are in flight, until cancelled; then fails the requests
    /// still in flight with ``Stopped``, and every later one.
    func run() async {
        while !Task.isCancelled {
            let now = self.now()
            let (due, idle) = state.withLock { state -> ([any ExpiringRequest], Bool) in
                var due: [any ExpiringRequest] = []
                for (id, request) in state.requests where request.deadline <= now {
                    due.append(request)
                    state.requests.removeValue(forKey: id)
                }
                return (due, state.requests.isEmpty)
            }
            for request in due { request.expire() }
            if idle {
                await park()
            } else {
                try? await Task.sleep(for: tick)
            }
        }
        let left = state.withLock { state -> [any ExpiringRequest] in
            state.stopped = true
            defer { state.requests = [:] }
            return Array(state.requests.values)
        }
        for request in left { request.stop() }
    }

    /// Waits until a request arrives or the task is cancelled.
    private func park() async {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let wakeNow = state.withLock { state -> Bool in
                    if !state.requests.isEmpty || Task.isCancelled { return true }
                    state.parked = continuation
                    return false
                }
                if wakeNow { continuation.resume() }
            }
        } onCancel: {
            let parked = state.withLock { state in
                defer { state.parked = nil }
                return state.parked
            }
            parked?.resume()
        }
    }

    /// What the operation of a request tells the timer: that it holds a connection, and that it gave it back.
    final class Request: Sendable {
        private enum Phase {
            case leasing
            case leased(@Sendable () -> Void)
            case expired
        }

        private let phase = Mutex(Phase.leasing)
        private let deadlines: RequestDeadlines
        fileprivate let leaseLimit: Duration
        fileprivate let workLimit: Duration
        /// When the current phase ends, in nanoseconds of the timer's clock.
        fileprivate let deadline: Atomic<Int64>

        fileprivate init(deadlines: RequestDeadlines, leaseLimit: Duration, workLimit: Duration, deadline: Int64) {
            self.deadlines = deadlines
            self.leaseLimit = leaseLimit
            self.workLimit = workLimit
            self.deadline = Atomic(deadline)
        }

        /// Records how to close the connection the work now holds, and starts the work's deadline; closes the
        /// connection at once if the lease's deadline already passed.
        func hold(close: @escaping @Sendable () -> Void) {
            deadline.store(deadlines.now() + RequestDeadlines.nanoseconds(workLimit), ordering: .relaxed)
            let expired = phase.withLock { phase -> Bool in
                if case .expired = phase { return true }
                phase = .leased(close)
                return false
            }
            if expired { close() }
        }

        /// Forgets the connection once the work is done with it: it goes back to the pool, and another request may
        /// lease it, so the deadline must not close it any more.
        func release() {
            phase.withLock { phase in
                if case .leased = phase { phase = .leasing }
            }
        }

        /// Marks the deadline as passed and closes the held connection; returns whether there was one.
        ///
        /// The close runs under the lock, which ``release()`` takes too: the work cannot give the connection back to
        /// the pool, which may lend it to another request, between the decision to close it and the close. (The
        /// close only starts closing the connection's channel; it does not wait.)
        fileprivate func expire() -> Bool {
            phase.withLock { phase -> Bool in
                defer { phase = .expired }
                guard case .leased(let close) = phase else { return false }
                close()
                return true
            }
        }
    }
}

/// A request in flight, as the timer sees it.
private protocol ExpiringRequest: AnyObject, Sendable {
    /// When the current phase ends, in nanoseconds of ``RequestDeadlines``' clock.
    var deadline: Int64 { get }
    /// Fails the caller with ``RequestDeadlines/Exceeded`` unless the work finished first.
    func expire()
    /// Fails the caller with ``RequestDeadlines/Stopped`` unless the work finished first.
    func stop()
}

/// Lets the first of the work and the timer resume the caller, and stops the work if the timer won.
private final class Race<Result: Sendable>: ExpiringRequest {
    private struct State {
        var continuation: UnsafeContinuation<Result, any Error>?
        var finished = false
        var cancelled = false
        var work: Task<Void, Never>?
    }

    private let state = Mutex(State())
    let request: RequestDeadlines.Request

    init(request: RequestDeadlines.Request) {
        self.request = request
    }

    var deadline: Int64 { request.deadline.load(ordering: .relaxed) }

    /// Keeps the caller's continuation; returns `false`, having resumed it with `CancellationError`, when the caller
    /// was cancelled already.
    func start(_ continuation: UnsafeContinuation<Result, any Error>) -> Bool {
        let cancelled = state.withLock { state -> Bool in
            if state.cancelled {
                state.finished = true
                return true
            }
            state.continuation = continuation
            return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
        return !cancelled
    }

    func attach(work: Task<Void, Never>) {
        let stop = state.withLock { state -> Bool in
            state.work = work
            return state.cancelled
        }
        if stop { work.cancel() }
    }

    /// Resumes the caller with `result()` unless the other side did first; returns whether this call did.
    /// `result` runs only for the winner.
    @discardableResult
    func finish(_ result: () -> Swift.Result<Result, any Error>) -> Bool {
        let continuation = state.withLock { state -> UnsafeContinuation<Result, any Error>? in
            guard !state.finished, let continuation = state.continuation else { return nil }
            state.finished = true
            state.continuation = nil
            return continuation
        }
        guard let continuation else { return false }
        continuation.resume(with: result())
        return true
    }

    func expire() {
        let won = finish {
            let hadConnection = request.expire()
            return .failure(
                RequestDeadlines.Exceeded(
                    hadConnection: hadConnection, limit: hadConnection ? request.workLimit : request.leaseLimit))
        }
        if won { cancelWork() }
    }

    func stop() {
        if finish({ _ = request.expire(); return .failure(RequestDeadlines.Stopped()) }) { cancelWork() }
    }

    /// The caller was cancelled: it gets `CancellationError` at once, unless the work or the timer resumed it first;
    /// the connection the work holds is closed, as at a deadline, and the work is cancelled.
    func cancel() {
        // One lock for the flag and the continuation: ``start(_:)`` either sees the flag or leaves the continuation
        // here.
        let (continuation, work) = state.withLock { state in
            state.cancelled = true
            let continuation = state.finished ? nil : state.continuation
            if continuation != nil {
                state.finished = true
                state.continuation = nil
            }
            return (continuation, state.work)
        }
        if let continuation {
            _ = request.expire()
            continuation.resume(throwing: CancellationError())
        }
        work?.cancel()
    }

    func cancelWork() {
        let work = state.withLock { state -> Task<Void, Never>? in
            state.cancelled = true
            return state.work
        }
        work?.cancel()
    }
}
