import Synchronization
import Whizbang

/// The callers awaiting results of inbox rows, and their deadlines: a state machine under one lock. The client's
/// poller asks it which rows to look up, hands it the results it found, and lets it fail the waits past their
/// deadlines.
///
/// The wait of a command just inserted is not looked up at once (it has almost never run yet): the notification that
/// its result is recorded names it, or, if that notification is lost, the next full look-up finds it. It is looked up
/// at once when a notification already named its row, or named no rows (an older node's, or a long list's), since
/// its result may have been recorded before the wait began; both are remembered for two full look-ups (at most
/// ``maximumRemembered`` rows; past that, as a notification that named none), so a wait that begins later than that is
/// found by the next full look-up: at most one poll interval late. Any other wait (`lookUpAtOnce`) is looked up at
/// once.
final class ResultWaiters: Sendable {
    private struct Waiter {
        var token: Int
        var messageID: MessageID
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<ClusterCommandResult, any Error>
    }

    private struct State {
        var waiters: [Int64: [Waiter]] = [:]
        var nextToken = 0
        var closed: ClusterError? = nil
        /// Awaited rows to look up at the next wake: those a notification named, before or after their wait began, and
        /// the waits to look up at once.
        var toLookUp: Set<Int64> = []
        /// Whether the next look-up covers every awaited row (a notification that named no rows, or a reconnect).
        var lookUpAll = false
        /// Rows a notification named while nobody awaited them, since the last full look-up and before it.
        var notifiedUnawaited: Set<Int64> = []
        var notifiedUnawaitedBefore: Set<Int64> = []
        /// Whether a notification named no rows since the last full look-up, and before it.
        var notifiedAll = false
        var notifiedAllBefore = false
        /// No deadline of an awaited row is earlier (it may be earlier than the earliest left, never later).
        var earliestDeadline: ContinuousClock.Instant? = nil

        /// Whether a notification named `row`, or no rows, before it was awaited; forgets the row.
        mutating func takeNotified(_ row: Int64) -> Bool {
            let named = notifiedUnawaited.remove(row) != nil || notifiedUnawaitedBefore.remove(row) != nil
            return named || notifiedAll || notifiedAllBefore
        }

        /// Starts the next generation of what notifications named: called at every full look-up.
        mutating func forgetOlderNotifications() {
            notifiedUnawaitedBefore = notifiedUnawaited
            notifiedUnawaited = []
            notifiedAllBefore = notifiedAll
            notifiedAll = false
        }
    }

    /// The most rows named before their wait that are remembered; past it a notification counts as one that named
    /// none (every wait that begins before the second full look-up after it is looked up at once).
    static let maximumRemembered = 100_000

    private let state = Mutex(State())
    /// Whether the last look-up found no partition with a live lease: no node runs (or none has started yet).
    private let unowned = Atomic<Bool>(false)

    /// Records whether the last look-up found a partition with a live lease, for the words of a time-out.
    func noteOwned(_ owned: Bool) { unowned.store(!owned, ordering: .relaxed) }

    /// Wakes the poller: a notification says awaited results were recorded, or a new wait's result was recorded
    /// before it began.
    let added = Wakeup()
    /// Signalled whenever a wait is in place, so that a test can go on once its wait is registered.
    let registered = Wakeup()
    /// Wakes the task that fails waits at their deadlines: a new wait's deadline is the earliest.
    let deadlineMoved = Wakeup()

    /// Notes that the results of `rows` were recorded (`nil`: of rows not named), and wakes the poller when any of
    /// them is awaited.
    func recorded(_ rows: [Int64]?) {
        let wake = state.withLock { state -> Bool in
            guard let rows else {
                state.lookUpAll = true
                state.notifiedAll = true
                return true
            }
            var any = false
            for row in rows {
                if state.waiters[row] != nil {
                    state.toLookUp.insert(row)
                    any = true
                } else if state.notifiedUnawaited.count < Self.maximumRemembered {
                    state.notifiedUnawaited.insert(row)
                } else {
                    state.notifiedAll = true
                }
            }
            return any
        }
        if wake { added.signal() }
    }

    /// Puts back `rows` whose look-up failed, so the next look-up asks for them again (those still awaited);
    /// does not wake the poller.
    func lookUpAgain(_ rows: [Int64]) {
        state.withLock { state in
            for row in rows where state.waiters[row] != nil { state.toLookUp.insert(row) }
        }
    }

    /// The rows to look up now, and forgets them: every awaited row with `everything` or after a notification that
    /// named none, else the rows a notification named (before or after their wait began).
    func takeRowsToLookUp(everything: Bool) -> [Int64] {
        state.withLock { state in
            defer {
                state.toLookUp = []
                state.lookUpAll = false
            }
            if everything || state.lookUpAll {
                state.forgetOlderNotifications()
                return Array(state.waiters.keys)
            }
            return state.toLookUp.filter { state.waiters[$0] != nil }
        }
    }

    /// The earliest deadline of the waits, if any (or a moment before it).
    var earliestDeadline: ContinuousClock.Instant? { state.withLock { $0.earliestDeadline } }

    /// Waits for the result of inbox row `row` until `deadline`; with `lookUpAtOnce` (a command that may have run
    /// already), the row is looked up at once, else only as the type's notes say (a command just inserted).
    ///
    /// - Throws: ``ClusterError/Code/timedOut`` after the deadline, ``ClusterError/Code/resultExpired`` when the
    ///   row is found deleted, `CancellationError` when the task is cancelled, or the error the waiters were closed
    ///   with.
    func wait(
        for row: Int64, messageID: MessageID, until deadline: ContinuousClock.Instant, lookUpAtOnce: Bool
    ) async throws -> ClusterCommandResult {
        let token = state.withLock { state -> Int in
            state.nextToken += 1
            return state.nextToken
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let registration = state.withLock { state -> Result<(lookUp: Bool, earliest: Bool), any Error> in
                    if let closed = state.closed { return .failure(closed) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[row, default: []].append(
                        Waiter(token: token, messageID: messageID, deadline: deadline, continuation: continuation))
                    let earliest = state.earliestDeadline.map { deadline < $0 } ?? true
                    if earliest { state.earliestDeadline = deadline }
                    guard state.takeNotified(row) || lookUpAtOnce else { return .success((false, earliest)) }
                    state.toLookUp.insert(row)
                    return .success((true, earliest))
                }
                switch registration {
                case .failure(let failure):
                    continuation.resume(throwing: failure)
                case .success(let wake):
                    if wake.lookUp { added.signal() }
                    if wake.earliest { deadlineMoved.signal() }
                    registered.signal()
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard var list = state.waiters[row], let index = list.firstIndex(where: { $0.token == token }) else {
                    return nil
                }
                let waiter = list.remove(at: index)
                state.waiters[row] = list.isEmpty ? nil : list
                return waiter
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Resumes the waiters of rows that have results, with the result or with the error its decoding raised.
    func deliver(_ results: [Int64: Result<ClusterCommandResult, ClusterError>]) {
        let ready = state.withLock { state -> [(Waiter, Result<ClusterCommandResult, ClusterError>)] in
            var ready: [(Waiter, Result<ClusterCommandResult, ClusterError>)] = []
            for (row, result) in results {
                for waiter in state.waiters.removeValue(forKey: row) ?? [] { ready.append((waiter, result)) }
            }
            return ready
        }
        for (waiter, result) in ready { waiter.continuation.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Fails the waits of `rows`, whose inbox rows no longer exist, with ``ClusterError/Code/resultExpired``.
    func expired(_ rows: Set<Int64>) {
        let gone = state.withLock { state -> [Waiter] in
            rows.flatMap { state.waiters.removeValue(forKey: $0) ?? [] }
        }
        for waiter in gone {
            waiter.continuation.resume(
                throwing: ClusterError(
                    .resultExpired,
                    message: "command \(waiter.messageID) ran, but its inbox row was deleted before its result was "
                        + "read: the result was older than the cluster's inbox retention"))
        }
    }

    /// Fails the waits whose deadline has passed with ``ClusterError/Code/timedOut``; looks at them only once the
    /// earliest deadline has come.
    func expire(now: ContinuousClock.Instant = .now) {
        let expired = state.withLock { state -> [Waiter] in
            guard let earliest = state.earliestDeadline, earliest <= now else { return [] }
            var expired: [Waiter] = []
            var next: ContinuousClock.Instant? = nil
            for (row, list) in state.waiters {
                guard list.contains(where: { $0.deadline <= now }) else {
                    for waiter in list { next = min(next ?? waiter.deadline, waiter.deadline) }
                    continue
                }
                var onTime: [Waiter] = []
                for waiter in list {
                    if waiter.deadline <= now {
                        expired.append(waiter)
                    } else {
                        onTime.append(waiter)
                        next = min(next ?? waiter.deadline, waiter.deadline)
                    }
                }
                state.waiters[row] = onTime.isEmpty ? nil : onTime
            }
            state.earliestDeadline = next
            return expired
        }
        let whatNext =
            unowned.load(ordering: .relaxed)
            ? "it is in the inbox, and no node held a partition's lease at the last look-up: it runs once a node "
                + "does; "
            : "it is in the inbox and will run: "
        for waiter in expired {
            waiter.continuation.resume(
                throwing: ClusterError(
                    .timedOut,
                    message: "no result for command \(waiter.messageID) within its time limit; \(whatNext)await it again "
                        + "with the same message id"))
        }
    }

    /// Fails every wait, and every later one, with `error`.
    func close(with error: ClusterError) {
        let all = state.withLock { state -> [Waiter] in
            state.closed = state.closed ?? error
            defer {
                state.waiters = [:]
                state.earliestDeadline = nil
            }
            return state.waiters.values.flatMap { $0 }
        }
        for waiter in all { waiter.continuation.resume(throwing: error) }
    }

    /// Allows waits again after ``close(with:)``, for a client that runs again.
    func reopen() { state.withLock { $0.closed = nil } }
}
