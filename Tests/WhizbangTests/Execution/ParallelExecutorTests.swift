import Testing
import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct ParallelExecutorTests {
    static func make(maximumConcurrency: Int) -> ParallelExecutor {
        var configuration = ParallelExecutor.Configuration()
        configuration.maximumConcurrency = maximumConcurrency
        return ParallelExecutor(configuration: configuration)
    }

    @Test(arguments: [1, 2, 4, 16])
    func neverRunsMoreThanItsLimit(maximumConcurrency: Int) async throws {
        let executor = Self.make(maximumConcurrency: maximumConcurrency)
        let probe = ConcurrencyProbe()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    for _ in 0..<50 {
                        try await executor.run {
                            probe.enter()
                            defer { probe.leave() }
                            await Task.yield()
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(probe.maximum <= maximumConcurrency)
        #expect(executor.runningCount == 0)
    }

    @Test func runsUpToItsLimitAtOnce() async throws {
        // Four handlers that each wait for all four to have started can only finish if four run together.
        let executor = Self.make(maximumConcurrency: 4)
        let started = Recorder<Int>()
        let allStarted = TestGate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<4 {
                group.addTask {
                    try await executor.run {
                        started.append(index)
                        if started.elements.count == 4 { allStarted.open() }
                        await allStarted.wait()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(started.elements.count == 4)
    }

    @Test func waitingCallersAreHandedPermitsInArrivalOrder() async throws {
        let executor = Self.make(maximumConcurrency: 2)
        let gate = TestGate()
        let blockers = [
            await TestExecutor.parallel(executor).occupy(until: gate),
            await TestExecutor.parallel(executor).occupy(until: gate),
        ]
        let recorder = Recorder<Int>()
        let tasks = await TestExecutor.parallel(executor).enqueue(Array(0..<20), recordingIn: recorder)
        gate.open()
        for blocker in blockers { _ = try await blocker.value }
        for task in tasks { _ = try await task.value }
        // Waiters 0 and 1 take the blockers' permits; waiter v >= 2 is handed the permit of the (v-1)th waiter to
        // finish, so at least v - 1 waiters have recorded before it does, however the threads are scheduled.
        let order = recorder.elements
        #expect(order.sorted() == Array(0..<20))
        for (position, value) in order.enumerated() { #expect(position >= value - 1) }
    }

    @Test func theNonSuspendingPathTakesAndReturnsAPermit() async throws {
        let executor = Self.make(maximumConcurrency: 3)
        for value in 0..<1_000 { #expect(try await executor.run { value } == value) }
        #expect(executor.runningCount == 0)
        #expect(executor.queuedCount == 0)
    }

    @Test func aThrowingHandlerReturnsItsPermit() async throws {
        struct Failure: Error {}
        let executor = Self.make(maximumConcurrency: 1)
        for _ in 0..<10 {
            await #expect(throws: Failure.self) { try await executor.run { throw Failure() } }
        }
        #expect(executor.runningCount == 0)
        #expect(try await executor.run { 1 } == 1)
    }
}

extension TestExecutor {
    static func parallel(_ executor: ParallelExecutor) -> TestExecutor {
        TestExecutor(
            run: { body in try await executor.run { try await body() } },
            queuedCount: { executor.queuedCount },
            runningCount: { executor.runningCount },
            isAcceptingWork: { executor.isAcceptingWork },
            drain: { await executor.drain() },
            stop: { executor.stop() }
        )
    }
}
