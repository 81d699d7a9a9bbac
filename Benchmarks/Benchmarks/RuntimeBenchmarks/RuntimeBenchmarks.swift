import Benchmark
import RuntimeFixtures
import Whizbang

// The runtime's cost per command: `Dispatcher.aggregate(Account.self).send(.deposit(1), to:)` against the in-memory
// store, so that everything measured is the dispatcher, the repository and the store's bookkeeping, never I/O.
//
// Each benchmark has its own store and dispatcher, created once, outside the measurement, with its accounts opened
// before the first sample (as a long-running service has them; the repository's cache holds every account, so a
// command loads its aggregate from the cache). One iteration is one command, or one round of commands (said in the
// name). The in-memory store keeps every event, so memory grows with the samples; each benchmark is capped at a few
// seconds.
//
// `mallocCountTotal` is the metric whose p90 is committed under `Thresholds/`; times are for reading. The tolerance is
// half a malloc per command (the store's maps grow now and then), so one more malloc per command fails the check.

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

    func configuration(
        scalingFactor: BenchmarkScalingFactor,
        mallocTolerance tolerance: Int
    ) -> Benchmark.Configuration {
        .init(
            metrics: metrics,
            warmupIterations: 3,
            scalingFactor: scalingFactor,
            maxDuration: .seconds(3),
            maxIterations: 1_000,
            thresholds: [.mallocCountTotal: .init(absolute: [.p90: tolerance])]
        )
    }

    // MARK: One command at a time

    // The dispatcher's overhead per command, one caller: time and mallocs per `send`. Commands go round-robin to
    // 1,000 accounts, so each finds its lane idle and its aggregate in the cache.
    let sequential = RuntimeFixture<Account>(accounts: 1_000)
    Benchmark(
        "Dispatcher.send.deposit.1InFlight.perCommand",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 500)
    ) { benchmark in
        try await sequential.prepare()
        let streams = sequential.streams
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            let result = try await sequential.accounts.send(.deposit(1), to: streams[index % streams.count])
            blackHole(result)
        }
        benchmark.stopMeasurement()
    }

    // The same with the events written by Foundation's `JSONEncoder` (the default `registering(_:_:embed:extract:)`):
    // the difference is what a hand-written codec saves per event.
    let sequentialJSON = RuntimeFixture<JSONAccount>(accounts: 1_000)
    Benchmark(
        "Dispatcher.send.deposit.1InFlight.perCommand.jsonEvents",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 500)
    ) { benchmark in
        try await sequentialJSON.prepare()
        let streams = sequentialJSON.streams
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            let result = try await sequentialJSON.accounts.send(.deposit(1), to: streams[index % streams.count])
            blackHole(result)
        }
        benchmark.stopMeasurement()
    }

    // MARK: Commands in flight (one iteration = one round, task group included)

    // 256 callers, each sending 100 deposits in a row to an account of its own: 256 commands in flight on 256
    // distinct streams, 25,600 commands per round.
    let concurrent = RuntimeFixture<Account>(accounts: 256)
    Benchmark(
        "Dispatcher.send.deposit.256InFlight.perRoundOf25600",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 12_800)
    ) { benchmark in
        try await concurrent.prepare()
        let streams = concurrent.streams
        let accounts = concurrent.accounts
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stream in streams {
                    group.addTask {
                        for _ in 0..<100 {
                            blackHole(try await accounts.send(.deposit(1), to: stream))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        benchmark.stopMeasurement()
    }

    // The same round from one caller: 25,600 commands one after another over the same 256 accounts, for a direct
    // comparison with 256 in flight.
    let sameRoundSequential = RuntimeFixture<Account>(accounts: 256)
    Benchmark(
        "Dispatcher.send.deposit.1InFlight.perRoundOf25600",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 12_800)
    ) { benchmark in
        try await sameRoundSequential.prepare()
        let streams = sameRoundSequential.streams
        let accounts = sameRoundSequential.accounts
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0..<100 {
                for stream in streams {
                    blackHole(try await accounts.send(.deposit(1), to: stream))
                }
            }
        }
        benchmark.stopMeasurement()
    }

    // MARK: What the concurrent shape costs without the runtime

    Benchmark(
        "Baseline.taskGroupOf256Callers.perRound",
        configuration: configuration(scalingFactor: .one, mallocTolerance: 50)
    ) { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<256 {
                    group.addTask { blackHole(caller) }
                }
                try await group.waitForAll()
            }
        }
        benchmark.stopMeasurement()
    }
    // MARK: The envelope a command stores beside its events

    // Encoding and decoding the metadata of a default ledger command (one hop, the default policy trail): the full
    // JSON form earlier versions stored, the compact JSON form, and the binary form the dispatcher writes by default.
    // Per envelope.
    let envelope = EnvelopeBenchmarkFixture.ledgerEnvelope
    let full = try! envelope.sortedKeysJSON()
    let compact = envelope.storedForm(rowStreamID: "account-203")
    let binary = envelope.binaryStoredForm(rowStreamID: "account-203")
    Benchmark(
        "EnvelopeMetadata.encode.full",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 50)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try envelope.sortedKeysJSON()) }
    }
    Benchmark(
        "EnvelopeMetadata.encode.compact",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 50)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(envelope.storedForm(rowStreamID: "account-203")) }
    }
    Benchmark(
        "EnvelopeMetadata.encode.binary",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 50)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(envelope.binaryStoredForm(rowStreamID: "account-203")) }
    }
    Benchmark(
        "EnvelopeMetadata.decode.full",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 500)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try EnvelopeMetadata(storedForm: full, rowStreamID: "account-203"))
        }
    }
    Benchmark(
        "EnvelopeMetadata.decode.compact",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 500)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try EnvelopeMetadata(storedForm: compact, rowStreamID: "account-203"))
        }
    }
    Benchmark(
        "EnvelopeMetadata.decode.binary",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 500)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try EnvelopeMetadata(storedForm: binary, rowStreamID: "account-203"))
        }
    }
    Benchmark(
        "EnvelopeMetadata.messageID.binary",
        configuration: configuration(scalingFactor: .kilo, mallocTolerance: 50)
    ) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try EnvelopeMetadata.messageID(inStoredForm: binary)) }
    }
}
