import Synchronization
import Testing
@testable import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct ExecutorPoolTests {
    @Test func tenThousandKeysKeepPerKeyOrderAndLeaveNoLanesBehind() async throws {
        let pool = ExecutorPool<Int>()
        let probe = KeyedProbe(keys: 10_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Each key has an owner that sends it ten numbered messages in order: they must run in that order.
            for key in 0..<10_000 {
                group.addTask {
                    for number in 0..<10 {
                        try await pool.run(key: key) { () async -> Void in
                            probe.enter(key)
                            if number % 4 == 0 { await Task.yield() }
                            probe.leave(key, ownerMessage: number)
                        }
                    }
                }
            }
            // Ten more submitters walk every key in different orders, so the owners' messages queue behind theirs.
            for submitter in 0..<10 {
                group.addTask {
                    for step in 0..<10_000 {
                        let key = (step * 7_919 + submitter * 1_009) % 10_000
                        try await pool.run(key: key) { () async -> Void in
                            probe.enter(key)
                            if step % 64 == 0 { await Task.yield() }
                            probe.leave(key, ownerMessage: nil)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(probe.overlaps == 0)
        #expect(probe.completed == 200_000)
        #expect(probe.everyOwnerSequence(is: Array(0..<10)))
        #expect(pool.liveLaneCount == 0)
        #expect(pool.queuedCount == 0)
    }

    @Test func eachKeyRunsInSubmissionOrder() async throws {
        let pool = ExecutorPool<String>()
        let gate = TestGate()
        let adapters = ["a", "b", "c"].map { key in TestExecutor.pool(pool, key: key) }
        var blockers: [Task<Int, any Error>] = []
        for adapter in adapters { blockers.append(await adapter.occupy(until: gate)) }
        let recorders = adapters.map { _ in Recorder<Int>() }
        var tasks: [Task<Int, any Error>] = []
        for (adapter, recorder) in zip(adapters, recorders) {
            tasks += await adapter.enqueue(Array(0..<30), recordingIn: recorder)
        }
        #expect(pool.liveLaneCount == 3)
        gate.open()
        for task in blockers + tasks { _ = try await task.value }
        for recorder in recorders { #expect(recorder.elements == Array(0..<30)) }
        #expect(pool.liveLaneCount == 0)
    }

    @Test func differentKeysRunAtTheSameTime() async throws {
        // Each handler waits until the other key's handler has started: only possible if they run concurrently.
        let pool = ExecutorPool<String>()
        let aStarted = TestGate()
        let bStarted = TestGate()
        async let a: Void = pool.run(key: "a") { () async -> Void in
            aStarted.open()
            await bStarted.wait()
        }
        async let b: Void = pool.run(key: "b") { () async -> Void in
            bStarted.open()
            await aStarted.wait()
        }
        _ = try await (a, b)
        #expect(pool.liveLaneCount == 0)
    }

    @Test func aHandlerSubmittingToItsOwnKeyFailsButMaySubmitToAnother() async throws {
        let pool = ExecutorPool<String>()
        let result = try await pool.run(key: "a") { () async throws -> (String, Int) in
            let own: String
            do {
                _ = try await pool.run(key: "a") { 0 }
                own = "ran"
            } catch let error as ExecutorError {
                own = error.code.description
            }
            return (own, try await pool.run(key: "b") { 2 })
        }
        #expect(result.0 == "reentrantSubmission")
        #expect(result.1 == 2)
    }

    @Test func anAsyncHandlerSubmittingAnAsyncHandlerToItsOwnKeyFails() async throws {
        let pool = ExecutorPool<String>()
        let inner = try await pool.run(key: "a") { () async throws -> String in
            do {
                return try await pool.run(key: "a") { () async throws -> String in "ran" }
            } catch let error as ExecutorError {
                return error.code.description
            }
        }
        #expect(inner == "reentrantSubmission")
        #expect(pool.liveLaneCount == 0)
    }

    @Test func keysThatShareAShardKeepTheirOwnLanes() async throws {
        // With one shard every key lands in the same map: a busy key must not hold up, or be confused with, another.
        var configuration = ExecutorPool<Int>.Configuration()
        configuration.shardCount = 1
        let pool = ExecutorPool<Int>(configuration: configuration)
        let gate = TestGate()
        let started = TestGate()
        let busy = Task {
            try await pool.run(key: 1) { () async -> Int in
                started.open()
                await gate.wait()
                return 1
            }
        }
        await started.wait()
        let queued = Task { try await pool.run(key: 1) { 11 } }
        await yield { pool.queuedCount == 1 }
        for key in 2..<100 {
            #expect(try await pool.run(key: key) { key } == key)
        }
        #expect(pool.liveLaneCount == 1)
        gate.open()
        #expect(try await busy.value == 1)
        #expect(try await queued.value == 11)
        #expect(pool.liveLaneCount == 0)
    }

    @Test func shardCountIsRoundedUpToAPowerOfTwo() {
        var configuration = ExecutorPool<Int>.Configuration()
        configuration.shardCount = 5
        #expect(ExecutorPool<Int>(configuration: configuration).configuration.shardCount == 8)
        configuration.shardCount = 0
        #expect(ExecutorPool<Int>(configuration: configuration).configuration.shardCount == 1)
    }
}

/// Checks that no key has two handlers at once, counts completions, and records each key's owner messages in the
/// order they ran.
final class KeyedProbe: Sendable {
    private let running: [ConcurrencyProbe]
    private let ownerMessages: [Recorder<Int>]
    private let completions = Atomic<Int>(0)

    init(keys: Int) {
        running = (0..<keys).map { _ in ConcurrencyProbe() }
        ownerMessages = (0..<keys).map { _ in Recorder() }
    }

    func enter(_ key: Int) { running[key].enter() }

    func leave(_ key: Int, ownerMessage: Int?) {
        running[key].leave()
        if let ownerMessage { ownerMessages[key].append(ownerMessage) }
        completions.wrappingAdd(1, ordering: .relaxed)
    }

    var overlaps: Int { running.filter { $0.maximum > 1 }.count }
    var completed: Int { completions.load(ordering: .relaxed) }

    func everyOwnerSequence(is expected: [Int]) -> Bool {
        ownerMessages.allSatisfy { $0.elements == expected }
    }
}

extension TestExecutor {
    static func pool(_ pool: ExecutorPool<String>, key: String) -> TestExecutor {
        TestExecutor(
            run: { body in try await pool.run(key: key) { try await body() } },
            queuedCount: { pool.queuedCount },
            runningCount: { pool.runningCount },
            isAcceptingWork: { pool.isAcceptingWork },
            drain: { await pool.drain() },
            stop: { pool.stop() }
        )
    }
}

@Suite(.timeLimit(.minutes(5)))
struct ExecutorPoolReentrancyTests {
    @Test func aChildTaskOfAHandlerSubmittingToItsKeyFailsInsteadOfWaiting() async throws {
        let pool = ExecutorPool<Int>()
        let outcome = try await pool.run(key: 1) { () async throws -> String in
            async let inner: String = {
                do {
                    _ = try await pool.run(key: 1) { () async throws -> Int in 1 }
                    return "ran"
                } catch let error as ExecutorError {
                    return error.code.description
                }
            }()
            return try await inner
        }
        #expect(outcome == "reentrantSubmission")
        // Another key is another lane: a child task waits for it as usual.
        let other = try await pool.run(key: 1) { () async throws -> Int in
            async let inner = pool.run(key: 2) { () async throws -> Int in 2 }
            return try await inner
        }
        #expect(other == 2)
    }

    @Test func isAcceptingWorkReadsEveryShard() async {
        let pool = ExecutorPool<Int>()
        pool.shard(pool.shardMask).pointee.withLock { $0.lifecycle = .draining }
        #expect(!pool.isAcceptingWork)
    }
}
