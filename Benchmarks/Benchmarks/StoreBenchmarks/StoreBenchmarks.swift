import Benchmark
import Foundation
import Synchronization
import Whizbang
import WhizbangStore

// The SQLite event store against raw SQLite C-API baselines (see "Event store (SQLite)" in BENCHMARKS.md).
//
// Every framework benchmark `….framework` has baselines `….raw…` that do the same work on the same schema with the
// same pragmas through the C API (`RawConnection`), so the ratio of the two, taken in one run, is the framework's
// overhead. Each benchmark runs in a process of its own (ordo-one/benchmark does that); its setup makes a fresh
// directory with its database — a copy of the cached 1,000,000-event store, built once by the first benchmark that
// needs it, or an empty store — and its teardown closes everything and removes the directory.
//
// One sample is one round of work, named in the benchmark: one 1,000-event append, a round of single-event appends
// by N concurrent appenders, one read of the whole log, one read of a stream. `events/s` is the events of a round
// divided by its wall-clock time; `mallocCountTotal` counts every thread's mallocs in the round, SQLite's included.

/// Events per second in one sample.
let eventsPerSecond = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    func configuration(
        warmupIterations: Int = 1,
        maxDuration: Duration,
        maxIterations: Int,
        mallocTolerance: Int
    ) -> Benchmark.Configuration {
        .init(
            metrics: [.wallClock, .mallocCountTotal, eventsPerSecond],
            timeUnits: .microseconds,
            warmupIterations: warmupIterations,
            maxDuration: maxDuration,
            maxIterations: maxIterations,
            thresholds: [.mallocCountTotal: .init(absolute: [.p90: mallocTolerance])]
        )
    }

    // MARK: 1,000-event appends into a 1,000,000-event store

    for durability in [SQLiteEventStore.Configuration.Durability.normal, .full] {
        let name = "Append1000Events.into1MEvents.\(durability)"
        let appendConfiguration = configuration(
            warmupIterations: 3, maxDuration: .seconds(2), maxIterations: 200, mallocTolerance: 50
        )
        let bulkStreams = Counter()

        let store = Fixture<StoreFixture>()
        Benchmark("\(name).framework", configuration: appendConfiguration) { benchmark in
            let store = store.value.store
            let events = (0..<1000).map { Workload.event($0) }
            let streamID = StreamID("bulk-\(bulkStreams.next())")
            try await measure(benchmark, events: 1000) {
                _ = try await store.append(events, to: streamID, expectedVersion: .noStream)
            }
        } setup: {
            try await store.set(StoreFixture(prefilled: true, durability: durability))
        } teardown: {
            store.take()?.close()
        }

        let raw = Fixture<RawAppenderFixture>()
        Benchmark("\(name).raw", configuration: appendConfiguration) { benchmark in
            let appender = raw.value.appender
            let events = (0..<1000).map { Workload.event($0) }
            let streamID = "bulk-\(bulkStreams.next())"
            try await measure(benchmark, events: 1000) {
                let now = RawAppender.nowMicroseconds()
                let appended = try appender.transaction {
                    try appender.append(events, to: streamID, expectedVersion: 0, now: now)
                }
                precondition(appended)
            }
        } setup: {
            try await raw.set(RawAppenderFixture(prefilled: true, durability: durability))
        } teardown: {
            raw.take()?.close()
        }
    }

    // MARK: Single-event appends by concurrent appenders, each to a stream of its own

    for durability in [SQLiteEventStore.Configuration.Durability.normal, .full] {
        for (appenderCount, roundEvents) in [(1, 1_024), (16, 2_048), (256, 4_096)] {
            let name = "AppendSingleEvents.\(appenderCount)Appenders.\(durability).perRoundOf\(roundEvents)"
            let perAppender = roundEvents / appenderCount
            let streamIDs = (0..<appenderCount).map { StreamID("appender-\($0)") }
            let roundConfiguration = configuration(
                maxDuration: .seconds(3), maxIterations: 40, mallocTolerance: roundEvents
            )

            // Swift tasks in a task group, each awaiting its appends one after the other.
            let store = Fixture<StoreFixture>()
            let frameworkRounds = Counter()
            Benchmark("\(name).framework", configuration: roundConfiguration) { benchmark in
                let store = store.value.store
                let firstVersion = UInt64(frameworkRounds.next() * perAppender)
                try await measure(benchmark, events: roundEvents) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for streamID in streamIDs {
                            group.addTask {
                                for step in 0..<perAppender {
                                    let version = firstVersion + UInt64(step)
                                    _ = try await store.append(
                                        [Workload.event(step)],
                                        to: streamID,
                                        expectedVersion: version == 0 ? .noStream : .exact(version)
                                    )
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            } setup: {
                try await store.set(StoreFixture(prefilled: false, durability: durability))
            } teardown: {
                store.take()?.close()
            }

            // N threads hand their appends to one writer thread that commits all pending ones in one transaction;
            // with savepoints around each append (as the store does) from 16 appenders on.
            for savepointPerAppend in appenderCount == 1 ? [false] : [false, true] {
                let groupCommit = Fixture<RawGroupCommitFixture>()
                let groupCommitRounds = Counter()
                let variant = savepointPerAppend ? "rawGroupCommitWithSavepoints" : "rawGroupCommit"
                Benchmark("\(name).\(variant)", configuration: roundConfiguration) { benchmark in
                    let fixture = groupCommit.value
                    let writer = fixture.writer
                    let tickets = fixture.tickets
                    let firstVersion = UInt64(groupCommitRounds.next() * perAppender)
                    await measure(benchmark, events: roundEvents) {
                        await fixture.threads.run(
                            { index in
                                let streamID = streamIDs[index].rawValue
                                for step in 0..<perAppender {
                                    let appended = writer.append(
                                        Workload.event(step),
                                        to: streamID,
                                        expectedVersion: firstVersion + UInt64(step),
                                        ticket: tickets[index]
                                    )
                                    precondition(appended)
                                }
                            },
                            threadCount: appenderCount
                        )
                    }
                } setup: {
                    try await groupCommit.set(
                        RawGroupCommitFixture(
                            durability: durability,
                            threadCount: appenderCount,
                            savepointPerAppend: savepointPerAppend
                        )
                    )
                } teardown: {
                    groupCommit.take()?.close()
                }
            }

            // N threads share one connection under a mutex; one transaction per append (no group commit).
            let perTransaction = Fixture<RawSharedConnectionFixture>()
            let perTransactionRounds = Counter()
            Benchmark("\(name).rawTransactionPerAppend", configuration: roundConfiguration) { benchmark in
                let fixture = perTransaction.value
                let appender = fixture.appender
                let lock = fixture.lock
                let firstVersion = UInt64(perTransactionRounds.next() * perAppender)
                await measure(benchmark, events: roundEvents) {
                    await fixture.threads.run(
                        { index in
                            let streamID = streamIDs[index].rawValue
                            for step in 0..<perAppender {
                                let events = [Workload.event(step)]
                                let appended = lock.withLock {
                                    try! appender.transaction {
                                        try appender.append(
                                            events,
                                            to: streamID,
                                            expectedVersion: firstVersion + UInt64(step),
                                            now: RawAppender.nowMicroseconds()
                                        )
                                    }
                                }
                                precondition(appended)
                            }
                        },
                        threadCount: appenderCount
                    )
                }
            } setup: {
                try await perTransaction.set(RawSharedConnectionFixture(durability: durability, threadCount: appenderCount))
            } teardown: {
                perTransaction.take()?.close()
            }
        }
    }

    // MARK: Reading the whole 1,000,000-event log

    let readLogConfiguration = configuration(maxDuration: .seconds(4), maxIterations: 10, mallocTolerance: 2_000)
    let logReader = Fixture<StoreFixture>()
    Benchmark("ReadAll.1MEvents.batchesOf1000.framework", configuration: readLogConfiguration) { benchmark in
        let store = logReader.value.store
        try await measure(benchmark, events: Workload.prefillEventCount) {
            var position: UInt64 = 0
            var count = 0
            while true {
                let batch = try await store.readAll(after: position, limit: 1000)
                guard let last = batch.last else { break }
                position = last.position
                count += batch.count
                blackHole(batch)
            }
            precondition(count == Workload.prefillEventCount)
        }
    } setup: {
        try await logReader.set(StoreFixture(prefilled: true, durability: .full))
    } teardown: {
        logReader.take()?.close()
    }

    let rawLogReader = Fixture<RawReaderFixture>()
    Benchmark("ReadAll.1MEvents.raw", configuration: readLogConfiguration) { benchmark in
        let reader = rawLogReader.value.reader
        try await measure(benchmark, events: Workload.prefillEventCount) {
            let count = try reader.readWholeLog(chunkSize: 1000) { blackHole($0) }
            precondition(count == Workload.prefillEventCount)
        }
    } setup: {
        try await rawLogReader.set(RawReaderFixture())
    } teardown: {
        rawLogReader.take()?.close()
    }

    // MARK: Reading one 100-event stream (a different one each time, its events spread over the log)

    let readStreamConfiguration = configuration(
        warmupIterations: 10, maxDuration: .seconds(2), maxIterations: 5_000, mallocTolerance: 20
    )
    let streamReader = Fixture<StoreFixture>()
    let frameworkStreams = Counter()
    Benchmark("ReadStream.100Events.framework", configuration: readStreamConfiguration) { benchmark in
        let store = streamReader.value.store
        let streamID = Workload.prefillStreamID(frameworkStreams.next() &* 7919 % Workload.prefillStreamCount)
        try await measure(benchmark, events: Workload.eventsPerPrefillStream) {
            let events = try await store.readStream(streamID, from: 1, direction: .forwards, limit: 100)
            precondition(events.count == Workload.eventsPerPrefillStream)
            blackHole(events)
        }
    } setup: {
        try await streamReader.set(StoreFixture(prefilled: true, durability: .full))
    } teardown: {
        streamReader.take()?.close()
    }

    let rawStreamReader = Fixture<RawReaderFixture>()
    let rawStreams = Counter()
    Benchmark("ReadStream.100Events.raw", configuration: readStreamConfiguration) { benchmark in
        let reader = rawStreamReader.value.reader
        let streamID = Workload.prefillStreamID(rawStreams.next() &* 7919 % Workload.prefillStreamCount)
        try await measure(benchmark, events: Workload.eventsPerPrefillStream) {
            let events = try reader.readStream(streamID, from: 1, limit: 100)
            precondition(events.count == Workload.eventsPerPrefillStream)
            blackHole(events)
        }
    } setup: {
        try await rawStreamReader.set(RawReaderFixture())
    } teardown: {
        rawStreamReader.take()?.close()
    }
}

/// Measures `body` as the sample and records its `events/s`.
@inline(__always)
func measure(_ benchmark: Benchmark, events: Int, _ body: () async throws -> Void) async rethrows {
    let clock = ContinuousClock()
    benchmark.startMeasurement()
    let start = clock.now
    try await body()
    let elapsed = clock.now - start
    benchmark.stopMeasurement()
    let (seconds, attoseconds) = elapsed.components
    let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    benchmark.measurement(eventsPerSecond, Int((Double(events) * 1e9 / nanoseconds).rounded()))
}
