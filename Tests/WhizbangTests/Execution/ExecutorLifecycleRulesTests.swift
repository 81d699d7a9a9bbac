import Synchronization
import Testing
@testable import Whizbang

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lifecycle rules of the "Executors" article, checked against every executor kind: drain from a handler, the stop
/// fence, cancellation at scale.
@Suite(.timeLimit(.minutes(5)))
struct ExecutorLifecycleRulesTests {
    /// An executor's identity was its address: one freed and the next made at the same address shared it, so a mark
    /// left in a task by a handler of the first made that task's calls to the second look re-entrant (a spurious
    /// `reentrantSubmission`, a drain that returned at once).
    @Test func executorsMadeOneAfterAnotherNeverShareAnIdentity() {
        var identities = Set<UInt>()
        for _ in 0..<100 { identities.insert(SerialExecutor().identity) }
        for _ in 0..<100 { identities.insert(ParallelExecutor().identity) }
        for _ in 0..<100 { identities.insert(ExecutorPool<Int>().identity) }
        #expect(identities.count == 300)
    }

    @Test(arguments: ExecutorKind.allCases)
    func drainCalledInsideAHandlerStopsAdmissionAndReturns(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let elapsed = try await ContinuousClock().measure {
            let value = try await executor.run {
                await executor.drain()
                return 1
            }
            #expect(value == 1)
        }
        // It returns instead of waiting for itself (before, it never returned). The bound is generous: on a loaded
        // machine the test process itself can be starved for seconds.
        #expect(elapsed < .seconds(10))
        #expect(!executor.isAcceptingWork())
        await #expect(throws: ExecutorError.self) { try await executor.run { 2 } }
    }

    /// Inside handlers of four other executors, the drained executor's handler is the fifth entry of the task's
    /// handler context; the context kept only four, so `drain()` waited for its own handler, for ever.
    @Test(arguments: ExecutorKind.allCases)
    func drainCalledInsideAHandlerNestedFiveDeepReturns(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let others = (0..<4).map { _ in SerialExecutor() }
        let value = try await executor.run {
            try await others[0].run {
                try await others[1].run {
                    try await others[2].run {
                        try await others[3].run {
                            await executor.drain()
                            return 1
                        }
                    }
                }
            }
        }
        #expect(value == 1)
        #expect(!executor.isAcceptingWork())
    }

    @Test(arguments: ExecutorKind.allCases)
    func drainCalledFromAChildTaskOfAHandlerReturns(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let elapsed = try await ContinuousClock().measure {
            _ = try await executor.run {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await executor.drain() }
                    await group.waitForAll()
                }
                return 1
            }
        }
        // It returns instead of waiting for itself (before, it never returned). The bound is generous: on a loaded
        // machine the test process itself can be starved for seconds.
        #expect(elapsed < .seconds(10))
        #expect(!executor.isAcceptingWork())
    }

    /// The stop fence under load: 1,000 rounds of 64 callers racing a `stop()` that lands at a random point of the
    /// round. After `stop()` returns, the only handlers that may still start their bodies are those admitted before
    /// it, which `runningCount` reports as running; every other caller fails without starting. A hand-over that
    /// resumed its caller outside the lock without a confirmation let one more start per lane.
    @Test(arguments: ExecutorKind.allCases)
    func afterStopReturnsNoHandlerStartsButThoseAlreadyRunning(kind: ExecutorKind) async throws {
        for round in 0..<1_000 {
            let executor = kind.make()
            let probe = StartProbe()
            let stopAfter = Int.random(in: 0..<64)
            let callers = (0..<64).map { _ in
                Task {
                    try await executor.run {
                        probe.recordStart()
                        await Task.yield()
                        return 0
                    }
                }
            }
            await yield { probe.startCount >= stopAfter }
            executor.stop()
            let running = executor.runningCount()
            probe.close()
            for caller in callers { _ = try? await caller.value }
            let late = probe.lateStartCount
            #expect(late <= running, "round \(round): \(late) handlers started after stop() returned, \(running) running")
            #expect(executor.runningCount() == 0)
        }
    }

    /// A caller handed the lane (or permit) by a finishing handler has not started yet when `stop()` is called: its
    /// task's resumption is held on an executor the test runs by hand. It must observe the stop and not run.
    @Test(arguments: ExecutorKind.allCases)
    func aCallerHandedTheLaneBeforeStopDoesNotStartAfterIt(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let (waiter, held, recorder) = try await handOverHeld(on: executor)
        executor.stop()
        held.runUntilIdle()
        await #expect { _ = try await waiter.value } throws: { ($0 as? ExecutorError)?.code == .stopped }
        #expect(recorder.elements.isEmpty)
    }

    /// The same hand-over raced by the caller's cancellation instead: the caller fails with `CancellationError`, its
    /// handler does not run, and the lane passes on.
    @Test(arguments: ExecutorKind.allCases)
    func aCallerCancelledAfterItWasHandedTheLaneDoesNotStart(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let (waiter, held, recorder) = try await handOverHeld(on: executor)
        waiter.cancel()
        held.runUntilIdle()
        await #expect(throws: CancellationError.self) { _ = try await waiter.value }
        #expect(recorder.elements.isEmpty)
        #expect(try await executor.run { 3 } == 3)
    }

    /// Queues a caller whose task runs on a held executor, lets the running handler finish (which hands the lane to
    /// the caller and resumes it), and returns before the caller's task has run again.
    private func handOverHeld(on executor: TestExecutor) async throws
        -> (Task<Int, any Error>, HeldTaskExecutor, Recorder<Int>)
    {
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let held = HeldTaskExecutor()
        let recorder = Recorder<Int>()
        let waiter = Task(executorPreference: held) {
            try await executor.run {
                recorder.append(1)
                return 1
            }
        }
        held.runUntilIdle()
        #expect(executor.queuedCount() == 1)
        gate.open()
        #expect(try await blocker.value == -1)
        #expect(held.pendingCount == 1)  // the hand-over's resumption, not yet run
        return (waiter, held, recorder)
    }
}

/// Cancellation at scale, one executor kind at a time so that the figures do not include the other kinds' work.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ExecutorCancellationScaleTests {
    /// 100,000 callers queue; 30% are cancelled. Each cancellation finds its caller by id, so releasing them all takes
    /// milliseconds (the figure is in BENCHMARKS.md); a search of the queue per cancellation took seconds. The bound is
    /// generous, for a shared machine.
    /// Run on the serial executor only: the three kinds share the queue, and 100,000 tasks per kind kept the scheduler
    /// so busy that tests running alongside passed their time limits.
    @Test(arguments: [ExecutorKind.serial])
    func cancellingThirtyThousandOfOneHundredThousandQueuedCallersIsFast(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let count = 100_000
        // Started a thousand at a time, each batch queued before the next, so that the other tests running meanwhile
        // are never behind 100,000 task starts in the scheduler's queue.
        var tasks: [Task<Int, any Error>] = []
        tasks.reserveCapacity(count)
        for batch in stride(from: 0, to: count, by: 1_000) {
            for value in batch..<(batch + 1_000) { tasks.append(Task { try await executor.run { value } }) }
            await yield { executor.queuedCount() == batch + 1_000 }
        }
        let cancelled = tasks.indices.filter { $0 % 10 < 3 }
        // A cancellation handler runs within `cancel()`: when the loop ends, every cancelled caller has been removed
        // from the queue and resumed with its error.
        // The loop has no suspension point, so it runs on one thread: its CPU time, unlike the wall clock, does not
        // count the time a busy machine gives other work meanwhile.
        let before = threadCPUTime()
        for index in cancelled { tasks[index].cancel() }
        let elapsed = threadCPUTime() - before
        #expect(elapsed < .seconds(3), "released \(cancelled.count) cancelled callers in \(elapsed) of CPU time")
        for index in cancelled {
            do {
                _ = try await tasks[index].value
                Issue.record("a cancelled queued caller ran")
            } catch {
                #expect(error is CancellationError)
            }
        }
        #expect(executor.queuedCount() == count - cancelled.count)
        gate.open()
        _ = try await blocker.value
        for index in tasks.indices where index % 10 >= 3 { #expect(try await tasks[index].value == index) }
    }
}

/// The CPU time the calling thread has used so far.
private func threadCPUTime() -> Duration {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
}

/// A task executor that runs its jobs only when told to, so that a test can hold a resumed task between its
/// resumption and its next step.
final class HeldTaskExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
    }

    /// Runs the held jobs, and those they enqueue, until none is left.
    func runUntilIdle() {
        while let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) {
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }

    var pendingCount: Int { jobs.withLock { $0.count } }
}

/// Counts handler starts, and those that come after `close()`.
final class StartProbe: Sendable {
    private struct State {
        var starts = 0
        var closed = false
        var lateStarts = 0
    }

    private let state = Mutex(State())

    func recordStart() {
        state.withLock { state in
            state.starts += 1
            if state.closed { state.lateStarts += 1 }
        }
    }

    func close() { state.withLock { $0.closed = true } }

    var startCount: Int { state.withLock { $0.starts } }
    var lateStartCount: Int { state.withLock { $0.lateStarts } }
}
