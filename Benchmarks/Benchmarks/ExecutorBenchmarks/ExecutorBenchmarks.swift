import Benchmark
import Whizbang

// The shapes of the .NET seed's executor benchmarks (see BENCHMARKS.md at the repository root).
//
// Every benchmark does its per-iteration work inside `benchmark.scaledIterations`, so the scaled (`*`) wall clock
// and malloc counts read per iteration. What one iteration is differs by benchmark and is said in each name: one
// message, 100 messages, or one round of 1,000 / 10,000 / 100,000 messages. Each executor is created once, outside
// the benchmark closure, as a long-lived executor is in an application (a fresh pool's first message in each shard
// allocates that shard's map storage once; the warm-up samples absorb it). Everything a caller pays per message,
// and the child tasks a round of concurrent callers needs, is inside the measured loop; the `Baseline` benchmarks
// measure those task groups alone.
//
// `mallocCountTotal` is the metric whose p90 is committed under `Thresholds/` and checked, as apple/swift-nio does;
// the time metrics are for reading, not for checking, on a shared machine.

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

    /// A configuration whose committed malloc threshold tolerates `tolerance` mallocs per sample either way.
    func configuration(
        scalingFactor: BenchmarkScalingFactor,
        maxDuration: Duration = .seconds(2),
        mallocTolerance tolerance: Int
    ) -> Benchmark.Configuration {
        .init(
            metrics: metrics,
            warmupIterations: 3,
            scalingFactor: scalingFactor,
            maxDuration: maxDuration,
            maxIterations: 1_000,
            thresholds: [.mallocCountTotal: .init(absolute: [.p90: tolerance])]
        )
    }

    func parallelConfiguration() -> ParallelExecutor.Configuration {
        var configuration = ParallelExecutor.Configuration()
        configuration.maximumConcurrency = 8
        return configuration
    }

    // MARK: ParallelExecutor, one message

    let parallelForSingleMessage = ParallelExecutor(configuration: parallelConfiguration())
    Benchmark(
        "ParallelExecutor.singleMessage.nonSuspendingHandler",
        configuration: configuration(scalingFactor: .mega, mallocTolerance: 1_000)
    ) { benchmark in
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await parallelForSingleMessage.run { index })
        }
        benchmark.stopMeasurement()
    }

    let parallelForAsyncHandler = ParallelExecutor(configuration: parallelConfiguration())
    Benchmark(
        "ParallelExecutor.singleMessage.asyncHandler",
        configuration: configuration(scalingFactor: .mega, mallocTolerance: 1_000)
    ) { benchmark in
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await parallelForAsyncHandler.run { () async throws -> Int in index })
        }
        benchmark.stopMeasurement()
    }

    // MARK: SerialExecutor, one caller

    let serialForSingleMessage = SerialExecutor()
    Benchmark(
        "SerialExecutor.singleMessage.idleLane",
        configuration: configuration(scalingFactor: .mega, mallocTolerance: 1_000)
    ) { benchmark in
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await serialForSingleMessage.run { index })
        }
        benchmark.stopMeasurement()
    }

    let serialForAsyncHandler = SerialExecutor()
    Benchmark(
        "SerialExecutor.singleMessage.asyncHandler",
        configuration: configuration(scalingFactor: .mega, mallocTolerance: 1_000)
    ) { benchmark in
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(try await serialForAsyncHandler.run { () async throws -> Int in index })
        }
        benchmark.stopMeasurement()
    }

    let serialForRows = SerialExecutor()
    Benchmark(
        "SerialExecutor.100MessagesInARow",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 100)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var total = 0
            for message in 0..<100 {
                total &+= try await serialForRows.run { message }
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
    }

    // MARK: Concurrent callers (one iteration = one round of messages, task group included)

    let streams = (0..<10).map { _ in SerialExecutor() }
    Benchmark(
        "SerialExecutor.10Streamsx100Messages.perRoundOf1000",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 10)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for serial in streams {
                    group.addTask {
                        var total = 0
                        for message in 0..<100 {
                            total &+= try await serial.run { message }
                        }
                        return total
                    }
                }
                return try await group.reduce(0, &+)
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
    }

    let parallelForRounds = ParallelExecutor(configuration: parallelConfiguration())
    Benchmark(
        "ParallelExecutor.1000Messages.4Callers.perRoundOf1000",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 10)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var total = 0
                        for message in 0..<250 {
                            total &+= try await parallelForRounds.run { message }
                        }
                        return total
                    }
                }
                return try await group.reduce(0, &+)
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
    }

    // MARK: Cancellation at scale (one iteration = 100,000 callers queued behind a running handler, 30,000 of them
    // cancelled; only the cancellations are measured: each cancellation handler runs inside `cancel()`, so when the
    // loop ends every cancelled caller has left the queue and been resumed with its error)

    Benchmark(
        "SerialExecutor.cancel30000Of100000Queued",
        configuration: .init(
            metrics: [.wallClock], warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(20),
            maxIterations: 3)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let serial = SerialExecutor()
            let (held, release) = AsyncStream<Void>.makeStream()
            let (running, started) = AsyncStream<Void>.makeStream()
            let blocker = Task {
                try await serial.run { () async throws -> Int in
                    started.yield()
                    for await _ in held {}
                    return 0
                }
            }
            for await _ in running { break }
            let callers = (0..<100_000).map { value in Task { try await serial.run { value } } }
            while serial.queuedCount < callers.count { await Task.yield() }
            benchmark.startMeasurement()
            for index in callers.indices where index % 10 < 3 { callers[index].cancel() }
            benchmark.stopMeasurement()
            release.finish()
            _ = try await blocker.value
            for caller in callers { _ = try? await caller.value }
        }
    }

    // MARK: What the concurrent shapes cost without an executor

    Benchmark(
        "Baseline.taskGroupOf4Callers.perRound",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 10)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for caller in 0..<4 {
                    group.addTask { caller }
                }
                return try await group.reduce(0, &+)
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
    }

    Benchmark(
        "Baseline.taskGroupOf10Callers.perRound",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 10)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for caller in 0..<10 {
                    group.addTask { caller }
                }
                return try await group.reduce(0, &+)
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
    }

    // MARK: ExecutorPool

    let poolForOneMessage = ExecutorPool<Int>()
    Benchmark(
        "ExecutorPool.10000Keysx1Message.4Callers.perRoundOf10000",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 20)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for caller in 0..<4 {
                    group.addTask {
                        var total = 0
                        for key in stride(from: caller, to: 10_000, by: 4) {
                            total &+= try await poolForOneMessage.run(key: key) { key }
                        }
                        return total
                    }
                }
                return try await group.reduce(0, &+)
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
        precondition(poolForOneMessage.liveLaneCount == 0)
    }

    let poolForTenMessages = ExecutorPool<Int>()
    Benchmark(
        "ExecutorPool.10000Keysx10Messages.10Callers.perRoundOf100000",
        configuration: configuration(scalingFactor: .one, maxDuration: .seconds(3), mallocTolerance: 200)
    ) { benchmark in
        // Every caller sends one message to every key, each starting at a different key, so that callers meet on
        // the same key now and then and the queued path (wait, hand-over) is taken as well as the idle one.
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let total = try await withThrowingTaskGroup(of: Int.self) { group in
                for caller in 0..<10 {
                    group.addTask {
                        var total = 0
                        for step in 0..<10_000 {
                            let key = (caller &* 1_000 &+ step) % 10_000
                            total &+= try await poolForTenMessages.run(key: key) { key }
                        }
                        return total
                    }
                }
                return try await group.reduce(0, &+)
            }
            blackHole(total)
        }
        benchmark.stopMeasurement()
        precondition(poolForTenMessages.liveLaneCount == 0)
    }
}
