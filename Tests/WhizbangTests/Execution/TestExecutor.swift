import Testing
import Whizbang

/// The executors whose shared guarantees (FIFO hand-over, lifecycle, cancellation, errors, queue limits) are tested
/// once, as a contract, against each kind.
enum ExecutorKind: String, CaseIterable, CustomTestStringConvertible {
    case serial
    case parallel
    case pool

    var testDescription: String { rawValue }

    /// An executor of this kind that runs one handler at a time (the parallel executor with one permit, the pool on
    /// a single key), so every kind can be checked against the same expectations.
    func make(queueLimit: Int? = nil, overflow: OverflowBehavior = .wait) -> TestExecutor {
        switch self {
        case .serial:
            var configuration = SerialExecutor.Configuration()
            configuration.queueLimit = queueLimit
            configuration.overflowBehavior = overflow
            let executor = SerialExecutor(configuration: configuration)
            return TestExecutor(
                run: { body in try await executor.run { try await body() } },
                queuedCount: { executor.queuedCount },
                runningCount: { executor.runningCount },
                isAcceptingWork: { executor.isAcceptingWork },
                drain: { await executor.drain() },
                stop: { executor.stop() }
            )
        case .parallel:
            var configuration = ParallelExecutor.Configuration()
            configuration.maximumConcurrency = 1
            configuration.queueLimit = queueLimit
            configuration.overflowBehavior = overflow
            let executor = ParallelExecutor(configuration: configuration)
            return TestExecutor(
                run: { body in try await executor.run { try await body() } },
                queuedCount: { executor.queuedCount },
                runningCount: { executor.runningCount },
                isAcceptingWork: { executor.isAcceptingWork },
                drain: { await executor.drain() },
                stop: { executor.stop() }
            )
        case .pool:
            var configuration = ExecutorPool<String>.Configuration()
            configuration.queueLimit = queueLimit
            configuration.overflowBehavior = overflow
            let pool = ExecutorPool<String>(configuration: configuration)
            return TestExecutor(
                run: { body in try await pool.run(key: "stream-1") { try await body() } },
                queuedCount: { pool.queuedCount },
                runningCount: { pool.runningCount },
                isAcceptingWork: { pool.isAcceptingWork },
                drain: { await pool.drain() },
                stop: { pool.stop() }
            )
        }
    }
}

/// One executor seen through the operations every kind shares.
struct TestExecutor: Sendable {
    let run: @Sendable (@escaping @Sendable () async throws -> Int) async throws -> Int
    let queuedCount: @Sendable () -> Int
    let runningCount: @Sendable () -> Int
    let isAcceptingWork: @Sendable () -> Bool
    let drain: @Sendable () async -> Void
    let stop: @Sendable () -> Void

    /// Starts a handler that holds the executor until `gate` opens, and returns once it is running.
    func occupy(until gate: TestGate) async -> Task<Int, any Error> {
        let started = TestGate()
        let task = Task {
            try await run {
                started.open()
                await gate.wait()
                return -1
            }
        }
        await started.wait()
        return task
    }

    /// Submits `values` one at a time, each from its own task, waiting until each has queued before the next, so the
    /// submission order is exactly `values`' order. Each handler records its value in `recorder`.
    func enqueue(_ values: [Int], recordingIn recorder: Recorder<Int>) async -> [Task<Int, any Error>] {
        var tasks: [Task<Int, any Error>] = []
        let start = queuedCount()
        for (offset, value) in values.enumerated() {
            tasks.append(
                Task {
                    try await run {
                        recorder.append(value)
                        return value
                    }
                })
            await yield { queuedCount() == start + offset + 1 }
        }
        return tasks
    }
}
