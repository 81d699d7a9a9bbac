import Synchronization

/// A clock whose time moves only when a test advances it, so that tests of time limits, deadlines and backoff run
/// without real waiting.
///
/// Pass it where Whizbang takes a clock (`DispatcherConfiguration/clock`). A task that sleeps on it is suspended
/// until ``advance(by:)`` moves the time to or past its deadline, or until the task is cancelled (it then throws
/// `CancellationError`, like `Task.sleep`). ``waitForSleepers(count:)`` lets the test wait, without polling, until
/// the code under test has started the sleeps it expects, and only then advance the time.
///
/// ```swift
/// let clock = ManualClock()
/// var configuration = DispatcherConfiguration()
/// configuration.clock = clock
/// // … start a command with a time limit, then:
/// await clock.waitForSleepers(count: 1)
/// clock.advance(by: .seconds(5))
/// ```
public final class ManualClock: Clock, Sendable {
    /// A point in a manual clock's time: the duration since the clock was created.
    public struct Instant: InstantProtocol, Sendable {
        /// The time since the clock was created.
        public var offset: Duration

        /// The instant `offset` after the clock's start.
        public init(offset: Duration) {
            self.offset = offset
        }

        /// This instant moved by `duration`.
        public func advanced(by duration: Duration) -> Instant {
            Instant(offset: offset + duration)
        }

        /// The duration from this instant to `other`.
        public func duration(to other: Instant) -> Duration {
            other.offset - offset
        }

        /// Whether `lhs` comes before `rhs`.
        public static func < (lhs: Instant, rhs: Instant) -> Bool {
            lhs.offset < rhs.offset
        }
    }

    private struct Sleeper {
        let id: UInt64
        let deadline: Instant
        let continuation: UnsafeContinuation<Void, any Error>
    }

    private struct CountWaiter {
        let id: UInt64
        let count: Int
        let continuation: UnsafeContinuation<Void, Never>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var countWaiters: [CountWaiter] = []
        /// Sleeps started since creation, including those that have ended.
        var startedSleeps = 0

        /// Removes and returns the count waiters that the sleeps started so far satisfy.
        mutating func takeCountWaiters() -> [CountWaiter] {
            let started = startedSleeps
            let reached = countWaiters.filter { $0.count <= started }
            countWaiters.removeAll { $0.count <= started }
            return reached
        }
    }

    private let state = Mutex(State())

    /// A clock at instant zero, with no sleepers.
    public init() {}

    /// The clock's current time.
    public var now: Instant {
        state.withLock { $0.now }
    }

    /// Zero: sleeps end exactly when the time reaches their deadline.
    public var minimumResolution: Duration { .zero }

    /// The number of tasks sleeping now.
    public var sleeperCount: Int {
        state.withLock { $0.sleepers.count }
    }

    /// Suspends until the clock's time reaches `deadline`; returns at once if it already has.
    ///
    /// - Throws: `CancellationError` if the task is cancelled first (the sleep then ends at once).
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let (outcome, woken) = state.withLock { state -> (Result<Bool, CancellationError>, [CountWaiter]) in
                    state.startedSleeps += 1
                    let woken = state.takeCountWaiters()
                    if Task.isCancelled { return (.failure(CancellationError()), woken) }
                    if deadline <= state.now { return (.success(true), woken) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return (.success(false), woken)
                }
                for waiter in woken { waiter.continuation.resume() }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break  // resumed by `advance(by:)` or cancellation
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the time forward by `duration` and wakes every sleeper whose deadline it reaches, earliest first.
    ///
    /// - Precondition: `duration` is not negative.
    public func advance(by duration: Duration) {
        precondition(duration >= .zero, "a manual clock cannot go back")
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once `count` sleeps have started on this clock since it was created, counting those that have ended,
    /// or at once when the calling task is cancelled.
    ///
    /// Counting started sleeps rather than current ones makes the wait immune to a sleep that starts and ends before
    /// the test looks. It waits as long as the code under test takes to start them; bound the test with a time limit,
    /// whose cancellation ends the wait.
    public func waitForSleepers(count: Int) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                let reached = state.withLock { state -> Bool in
                    if state.startedSleeps >= count || Task.isCancelled { return true }
                    state.countWaiters.append(CountWaiter(id: id, count: count, continuation: continuation))
                    return false
                }
                if reached { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CountWaiter? in
                guard let index = state.countWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.countWaiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }
}
