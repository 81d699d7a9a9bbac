import Testing
import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct SerialExecutorTests {
    @Test func runsANonSuspendingHandlerOnAnIdleLane() async throws {
        let executor = SerialExecutor()
        #expect(try await executor.run { 42 } == 42)
        #expect(!executor.isBusy)
    }

    @Test func holdsTheLaneWhileAnAsyncHandlerIsSuspended() async throws {
        let executor = SerialExecutor()
        let gate = TestGate()
        let started = TestGate()
        let first = Task {
            try await executor.run {
                started.open()
                await gate.wait()
                return 1
            }
        }
        await started.wait()
        #expect(executor.isBusy)
        let recorder = Recorder<Int>()
        let second = Task { try await executor.run { recorder.append(2); return 2 } }
        await yield { executor.queuedCount == 1 }
        #expect(recorder.elements.isEmpty)
        gate.open()
        #expect(try await first.value == 1)
        #expect(try await second.value == 2)
    }

    @Test func keepsSubmissionOrderAcrossEightConcurrentSubmitters() async throws {
        // Eight submitters race: each one's submissions must run in its own order, interleaved with the others',
        // never overlapping. (Strict global FIFO of queued callers is checked by `ExecutorContractTests`.)
        let executor = SerialExecutor()
        let gate = TestGate()
        let blocker = await TestExecutor.serial(executor).occupy(until: gate)
        let runs = Recorder<Int>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for submitter in 0..<8 {
                group.addTask {
                    for sequence in 0..<100 {
                        let ticket = submitter * 1_000 + sequence
                        _ = try await executor.run {
                            runs.append(ticket)
                            return ticket
                        }
                    }
                }
            }
            await yield { executor.queuedCount == 8 }
            gate.open()
            try await group.waitForAll()
        }
        _ = try await blocker.value
        let order = runs.elements
        #expect(order.count == 800)
        for submitter in 0..<8 {
            let mine = order.filter { $0 / 1_000 == submitter }.map { $0 % 1_000 }
            #expect(mine == Array(0..<100))
        }
    }

    @Test func aHandlerSubmittingToItsOwnLaneFailsInsteadOfDeadlocking() async throws {
        let executor = SerialExecutor()
        let inner = try await executor.run { () async throws -> String in
            do {
                return try await executor.run { "ran" }
            } catch let error as ExecutorError {
                return error.code.description
            }
        }
        #expect(inner == "reentrantSubmission")
        #expect(try await executor.run { 1 } == 1)
    }

    @Test func anAsyncHandlerSubmittingAnAsyncHandlerToItsOwnLaneFails() async throws {
        let executor = SerialExecutor()
        let inner = try await executor.run { () async throws -> String in
            do {
                return try await executor.run { () async throws -> String in "ran" }
            } catch let error as ExecutorError {
                return error.code.description
            }
        }
        #expect(inner == "reentrantSubmission")
        #expect(!executor.isBusy)
    }

    @Test func aCallerHandedTheLaneIsCheckedForReentrancyUnderItsOwnIdentity() async throws {
        // Only the slow path reads a caller's task identity (the fast path of a non-suspending handler records none);
        // a caller that waited is handed the lane under its own identity, so its handler's submission to the same
        // lane still fails fast, and the non-suspending caller behind it still runs.
        let executor = SerialExecutor()
        let gate = TestGate()
        let blocker = await TestExecutor.serial(executor).occupy(until: gate)
        let waiter = Task {
            try await executor.run { () async throws -> String in
                do {
                    return try await executor.run { "ran" }
                } catch let error as ExecutorError {
                    return error.code.description
                }
            }
        }
        let behind = Task { try await executor.run { 7 } }
        await yield { executor.queuedCount == 2 }
        gate.open()
        _ = try await blocker.value
        #expect(try await waiter.value == "reentrantSubmission")
        #expect(try await behind.value == 7)
        #expect(!executor.isBusy)
    }

    @Test func aHandlerMaySubmitToAnotherLane() async throws {
        let outer = SerialExecutor()
        let other = SerialExecutor()
        let value = try await outer.run { () async throws -> Int in
            try await other.run { 5 } + 1
        }
        #expect(value == 6)
    }

    @Test func drainCalledFromItsOwnHandlerDoesNotWaitForItself() async throws {
        let executor = SerialExecutor()
        try await executor.run { () async -> Void in await executor.drain() }
        #expect(!executor.isAcceptingWork)
    }

    @Test func drainReturnsWhenItsTaskIsCancelled() async throws {
        let executor = SerialExecutor()
        let gate = TestGate()
        let blocker = await TestExecutor.serial(executor).occupy(until: gate)
        let drain = Task { await executor.drain() }
        await yield { !executor.isAcceptingWork }
        drain.cancel()
        await drain.value
        #expect(executor.isBusy)
        gate.open()
        _ = try await blocker.value
    }

    @Test func stopAfterDrainFailsTheQueueAndDrainStillReturns() async throws {
        let executor = SerialExecutor()
        let gate = TestGate()
        let blocker = await TestExecutor.serial(executor).occupy(until: gate)
        let queued = Task { try await executor.run { 1 } }
        await yield { executor.queuedCount == 1 }
        let drain = Task { await executor.drain() }
        await yield { !executor.isAcceptingWork }
        executor.stop()
        await #expect(throws: ExecutorError.self) { try await queued.value }
        gate.open()
        await drain.value
        _ = try await blocker.value
    }
}

extension TestExecutor {
    static func serial(_ executor: SerialExecutor) -> TestExecutor {
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

@Suite(.timeLimit(.minutes(5)))
struct SerialExecutorReentrancyTests {
    @Test func aChildTaskOfAHandlerSubmittingToItsLaneFailsInsteadOfWaiting() async throws {
        let executor = SerialExecutor()
        let outcome = try await executor.run { () async throws -> String in
            try await withThrowingTaskGroup(of: String.self) { group in
                group.addTask {
                    do {
                        _ = try await executor.run { 1 }
                        return "ran"
                    } catch let error as ExecutorError {
                        return error.code.description
                    }
                }
                return try await group.next() ?? "none"
            }
        }
        #expect(outcome == "reentrantSubmission")
    }

    @Test func aChildTaskWaitingForAnotherLaneStillWaits() async throws {
        let executor = SerialExecutor()
        let other = SerialExecutor()
        let value = try await executor.run { () async throws -> Int in
            async let inner = other.run { () async throws -> Int in 5 }
            return try await inner
        }
        #expect(value == 5)
    }

    /// Two fresh executors give their first handlers the same holder number; a handler of one that waits for the
    /// other, held by an unrelated task under that same number, must wait rather than be refused as re-entrant.
    @Test func aHandlerWaitingForAnotherExecutorHeldUnderTheSameNumberWaits() async throws {
        let first = SerialExecutor()
        let second = SerialExecutor()
        let holding = TestGate()
        let proceed = TestGate()
        let holder = Task {
            try await second.run { () async throws -> Int in
                holding.open()
                await proceed.wait()
                return 1
            }
        }
        await holding.wait()
        let refusals = Recorder<Int>()
        let waiter = Task {
            do {
                return try await first.run { () async throws -> Int in
                    try await second.run { () async throws -> Int in 2 }
                }
            } catch {
                refusals.append(1)
                throw error
            }
        }
        // Queued behind the holder, or refused (the failure this test exists to catch): either ends the wait.
        await yield { second.queuedCount == 1 || !refusals.elements.isEmpty }
        proceed.open()
        #expect(try await holder.value == 1)
        #expect(try await waiter.value == 2)
    }

    /// A handler that cannot suspend, run from inside an asynchronous handler of the same lane, is refused too.
    @Test func aNonSuspendingHandlerSubmittedFromAHandlerOfItsLaneFails() async throws {
        let executor = SerialExecutor()
        let outcome = try await executor.run { () async throws -> String in
            do {
                _ = try await executor.run { 1 }
                return "ran"
            } catch let error as ExecutorError {
                return error.code.description
            }
        }
        #expect(outcome == "reentrantSubmission")
    }
}
