import Synchronization
import Testing
@testable import WhizbangPostgres

/// The store's deadline timer without a server: work that never finishes (as a query whose promise postgres-nio
/// lost) fails its caller at the deadline of its phase, the connection it holds is closed, and stopping the timer
/// fails what is in flight.
@Suite("RequestDeadlines", .timeLimit(.minutes(5)))
struct RequestDeadlinesTests {
    /// Runs `body` while the timer runs; stops the timer afterwards and opens `gate`, so the abandoned work ends.
    private func withTimer(
        _ deadlines: RequestDeadlines, gate: Gate, _ body: () async throws -> Void
    ) async throws {
        let timer = Task { await deadlines.run() }
        defer {
            timer.cancel()
            gate.open()
        }
        try await body()
    }

    @Test func workWithoutAConnectionFailsAtTheLeaseDeadline() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        try await withTimer(deadlines, gate: gate) {
            let clock = ContinuousClock()
            let started = clock.now
            let error = await #expect(throws: RequestDeadlines.Exceeded.self) {
                try await deadlines.run(leaseLimit: .milliseconds(200), workLimit: .seconds(60)) { _ in
                    await gate.wait()
                }
            }
            #expect(error?.hadConnection == false)
            #expect(error?.limit == .milliseconds(200))
            // Generous: the timer is a task of the cooperative pool, which other suites may keep busy for seconds.
            #expect(clock.now - started < .seconds(30))
        }
    }

    @Test func aHeldConnectionIsClosedAtTheWorkDeadlineCountedFromTheLease() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        let closed = Atomic(0)
        try await withTimer(deadlines, gate: gate) {
            let error = await #expect(throws: RequestDeadlines.Exceeded.self) {
                try await deadlines.run(leaseLimit: .seconds(60), workLimit: .milliseconds(200)) { request in
                    request.hold { closed.add(1, ordering: .relaxed) }
                    await gate.wait()
                }
            }
            #expect(error?.hadConnection == true)
            #expect(error?.limit == .milliseconds(200))
            #expect(closed.load(ordering: .relaxed) == 1)
        }
    }

    @Test func aReleasedConnectionIsNotClosed() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        let closed = Atomic(0)
        try await withTimer(deadlines, gate: gate) {
            // A long lease limit: work that starts after the lease's deadline must close what it then holds.
            await #expect(throws: RequestDeadlines.Exceeded.self) {
                try await deadlines.run(leaseLimit: .seconds(60), workLimit: .milliseconds(500)) { request in
                    request.hold { closed.add(1, ordering: .relaxed) }
                    request.release()
                    await gate.wait()
                }
            }
            #expect(closed.load(ordering: .relaxed) == 0)
        }
    }

    @Test func finishedWorkReturnsItsResult() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        try await withTimer(deadlines, gate: Gate()) {
            for value in 0..<200 {
                let result = try await deadlines.run(leaseLimit: .seconds(60), workLimit: .seconds(60)) { request in
                    request.hold {}
                    defer { request.release() }
                    return value
                }
                #expect(result == value)
            }
            await #expect(throws: Failure.self) {
                try await deadlines.run(leaseLimit: .seconds(60), workLimit: .seconds(60)) { _ in throw Failure() }
            }
        }
    }

    @Test func stoppingTheTimerFailsTheRequestsInFlightAndEveryLaterOne() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        let timer = Task { await deadlines.run() }
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let request = Task {
            try await deadlines.run(leaseLimit: .seconds(60), workLimit: .seconds(60)) { _ in
                startedContinuation.yield()
                await gate.wait()
            }
        }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        timer.cancel()
        await #expect(throws: RequestDeadlines.Stopped.self) { try await request.value }
        await timer.value
        await #expect(throws: RequestDeadlines.Stopped.self) {
            try await deadlines.run(leaseLimit: .seconds(60), workLimit: .seconds(60)) { _ in 1 }
        }
        gate.open()
    }

    /// Before, a cancelled caller waited for its work, which a statement behind a lock or on a server that stopped
    /// answering does only at the deadline: a cancelled call returned up to `requestTimeout` late.
    @Test func aCancelledCallerReturnsAtOnceAndItsConnectionIsClosed() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        let closed = Count()
        try await withTimer(deadlines, gate: gate) {
            let (held, heldContinuation) = AsyncStream.makeStream(of: Void.self)
            let caller = Task {
                try await deadlines.run(leaseLimit: .seconds(600), workLimit: .seconds(600)) { request in
                    request.hold { closed.add() }
                    heldContinuation.yield()
                    await gate.wait()
                }
            }
            var iterator = held.makeAsyncIterator()
            _ = await iterator.next()
            caller.cancel()
            await #expect(throws: CancellationError.self) { try await caller.value }
            #expect(closed.value == 1)
        }
    }

    /// Before, the deadline (or the caller's cancellation) took the connection's close out of the request's lock and
    /// ran it after letting go: in between, the work could give the connection back to the pool, which could lend it
    /// to another request, whose statement the close then ended. Now the work's `release()` waits for a close under
    /// way, so a connection back in the pool is never closed by the request it left.
    @Test func theWorkCannotGiveBackAConnectionWhileItIsBeingClosed() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        let closing = Gate()
        let released = Count()
        let releasedWhileClosing = Count()
        try await withTimer(deadlines, gate: gate) {
            let (held, heldContinuation) = AsyncStream.makeStream(of: Void.self)
            let caller = Task {
                try await deadlines.run(leaseLimit: .seconds(600), workLimit: .seconds(600)) { request in
                    request.hold {
                        closing.open()
                        // The close takes a while (as a close from a busy thread may); the work tries to give the
                        // connection back meanwhile. The window only has to be long enough for a release that does
                        // not wait to return in it: one that waits never does.
                        let end = ContinuousClock.now + .milliseconds(200)
                        while ContinuousClock.now < end, released.value == 0 {}
                        if released.value > 0 { releasedWhileClosing.add() }
                    }
                    heldContinuation.yield()
                    await closing.wait()
                    request.release()
                    released.add()
                    await gate.wait()
                }
            }
            var iterator = held.makeAsyncIterator()
            _ = await iterator.next()
            caller.cancel()
            await #expect(throws: CancellationError.self) { try await caller.value }
            #expect(releasedWhileClosing.value == 0, "the connection went back while it was closed")
        }
    }

    /// A caller cancelled before its request starts gets the cancellation, and no work runs.
    @Test func aCallerCancelledBeforeTheRequestStartsRunsNoWork() async throws {
        let deadlines = RequestDeadlines(tick: .milliseconds(5))
        let gate = Gate()
        let ran = Count()
        try await withTimer(deadlines, gate: gate) {
            let caller = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await deadlines.run(leaseLimit: .seconds(600), workLimit: .seconds(600)) { _ in
                    ran.add()
                    await gate.wait()
                }
            }
            await #expect(throws: CancellationError.self) { try await caller.value }
            #expect(ran.value == 0)
        }
    }

    private struct Failure: Error {}
}

/// A count that tasks may share.
private final class Count: Sendable {
    private let count = Atomic(0)

    var value: Int { count.load(ordering: .relaxed) }

    func add() {
        count.add(1, ordering: .relaxed)
    }
}

/// Work that waits until the test opens the gate, ignoring cancellation: a promise that is never completed.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
