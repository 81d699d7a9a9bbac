import Testing
import Whizbang

/// The guarantees every executor kind gives, checked against each: FIFO hand-over, lifecycle, cancellation, error
/// isolation and queue limits.
@Suite(.timeLimit(.minutes(5)))
struct ExecutorContractTests {
    @Test(arguments: ExecutorKind.allCases)
    func queuedCallersRunInSubmissionOrder(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let recorder = Recorder<Int>()
        let tasks = await executor.enqueue(Array(0..<50), recordingIn: recorder)
        gate.open()
        #expect(try await blocker.value == -1)
        for (index, task) in tasks.enumerated() { #expect(try await task.value == index) }
        #expect(recorder.elements == Array(0..<50))
    }

    @Test(arguments: ExecutorKind.allCases)
    func stopFailsEveryQueuedCallerAndLetsTheRunningOneFinish(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let recorder = Recorder<Int>()
        let tasks = (0..<1_000).map { value in
            Task { try await executor.run { recorder.append(value); return value } }
        }
        await yield { executor.queuedCount() == 1_000 }
        executor.stop()
        var stopped = 0
        for task in tasks {
            do {
                _ = try await task.value
            } catch let error as ExecutorError where error.code == .stopped {
                stopped += 1
            }
        }
        #expect(stopped == 1_000)
        #expect(recorder.elements.isEmpty)
        gate.open()
        #expect(try await blocker.value == -1)
    }

    @Test(arguments: ExecutorKind.allCases)
    func submittingAfterStopFailsAtOnce(kind: ExecutorKind) async throws {
        let executor = kind.make()
        executor.stop()
        await #expect(throws: ExecutorError.self) { try await executor.run { 1 } }
        do {
            _ = try await executor.run { 1 }
        } catch let error as ExecutorError {
            #expect(error.code == .stopped)
        }
    }

    @Test(arguments: ExecutorKind.allCases)
    func cancellingAQueuedCallerRemovesOnlyIt(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let recorder = Recorder<Int>()
        let tasks = await executor.enqueue(Array(0..<10), recordingIn: recorder)
        tasks[4].cancel()
        await #expect(throws: CancellationError.self) { try await tasks[4].value }
        #expect(executor.queuedCount() == 9)
        gate.open()
        _ = try await blocker.value
        for (index, task) in tasks.enumerated() where index != 4 { #expect(try await task.value == index) }
        #expect(recorder.elements == [0, 1, 2, 3, 5, 6, 7, 8, 9])
    }

    @Test(arguments: ExecutorKind.allCases)
    func aCallerCancelledBeforeItQueuesStillGetsAnAnswer(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await executor.run { 1 }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        gate.open()
        _ = try await blocker.value
    }

    @Test(arguments: ExecutorKind.allCases)
    func drainFinishesAcceptedWorkAndRefusesNewWork(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let recorder = Recorder<Int>()
        let tasks = await executor.enqueue(Array(0..<100), recordingIn: recorder)
        let drained = Task { await executor.drain() }
        await yield { !executor.isAcceptingWork() }
        do {
            _ = try await executor.run { 0 }
            Issue.record("a submission was accepted while draining")
        } catch let error as ExecutorError {
            #expect(error.code == .draining)
        }
        gate.open()
        await drained.value
        _ = try await blocker.value
        for (index, task) in tasks.enumerated() { #expect(try await task.value == index) }
        #expect(recorder.elements == Array(0..<100))
    }

    @Test(arguments: ExecutorKind.allCases)
    func drainOnAnIdleExecutorReturnsAtOnce(kind: ExecutorKind) async throws {
        let executor = kind.make()
        #expect(try await executor.run { 7 } == 7)
        await executor.drain()
        do {
            _ = try await executor.run { 1 }
            Issue.record("a drained executor accepted work")
        } catch let error as ExecutorError {
            #expect(error.code == .draining)
        }
    }

    @Test(arguments: ExecutorKind.allCases)
    func aHandlersErrorReachesOnlyItsOwnCaller(kind: ExecutorKind) async throws {
        struct Failure: Error, Equatable { let value: Int }
        let executor = kind.make()
        let results = await withTaskGroup(of: (Int, Result<Int, Failure>).self) { group in
            for value in 0..<100 {
                group.addTask {
                    do {
                        let result = try await executor.run {
                            if value % 7 == 0 { throw Failure(value: value) }
                            return value
                        }
                        return (value, .success(result))
                    } catch {
                        return (value, .failure(error as! Failure))
                    }
                }
            }
            var results: [Int: Result<Int, Failure>] = [:]
            for await (value, result) in group { results[value] = result }
            return results
        }
        for value in 0..<100 {
            if value % 7 == 0 {
                #expect(results[value] == .failure(Failure(value: value)))
            } else {
                #expect(results[value] == .success(value))
            }
        }
        #expect(try await executor.run { 5 } == 5)
    }

    @Test(arguments: ExecutorKind.allCases)
    func aFullQueueRejectsWhenToldTo(kind: ExecutorKind) async throws {
        let executor = kind.make(queueLimit: 2, overflow: .reject)
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let recorder = Recorder<Int>()
        let tasks = await executor.enqueue([1, 2], recordingIn: recorder)
        do {
            _ = try await executor.run { 3 }
            Issue.record("a caller beyond the queue limit was accepted")
        } catch let error as ExecutorError {
            #expect(error.code == .queueFull)
        }
        gate.open()
        _ = try await blocker.value
        for task in tasks { _ = try await task.value }
        #expect(recorder.elements == [1, 2])
    }

    @Test(arguments: ExecutorKind.allCases)
    func aFullQueueMakesCallersWaitByDefault(kind: ExecutorKind) async throws {
        let executor = kind.make(queueLimit: 2, overflow: .wait)
        let gate = TestGate()
        let blocker = await executor.occupy(until: gate)
        let recorder = Recorder<Int>()
        let tasks = await executor.enqueue([1, 2, 3, 4, 5], recordingIn: recorder)
        gate.open()
        _ = try await blocker.value
        for task in tasks { _ = try await task.value }
        #expect(recorder.elements == [1, 2, 3, 4, 5])
    }

    @Test(arguments: ExecutorKind.allCases)
    func handlersNeverOverlapUnderManyConcurrentSubmitters(kind: ExecutorKind) async throws {
        let executor = kind.make()
        let probe = ConcurrencyProbe()
        let perSubmitter = Recorder<(submitter: Int, sequence: Int)>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for submitter in 0..<8 {
                group.addTask {
                    for sequence in 0..<500 {
                        _ = try await executor.run {
                            probe.enter()
                            defer { probe.leave() }
                            await Task.yield()
                            perSubmitter.append((submitter, sequence))
                            return sequence
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(probe.maximum == 1)
        let records = perSubmitter.elements
        #expect(records.count == 4_000)
        for submitter in 0..<8 {
            #expect(records.filter { $0.submitter == submitter }.map(\.sequence) == Array(0..<500))
        }
    }
}
