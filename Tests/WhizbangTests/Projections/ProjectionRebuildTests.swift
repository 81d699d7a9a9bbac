import Synchronization
import Testing
import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct ProjectionRebuildTests {
    /// A store with 25 events over three streams, interleaved.
    static func makeStore() async throws -> InMemoryEventStore {
        let store = InMemoryEventStore()
        for round in 0..<5 {
            try await appendValues([round * 10 + 1, round * 10 + 2], to: "a", in: store)
            try await appendValues([round * 10 + 3], to: "b", in: store)
            try await appendValues([round * 10 + 4, round * 10 + 5], to: "c", in: store)
        }
        return store
    }

    static func configuration(batchSize: Int) -> ProjectionRunnerConfiguration {
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = batchSize
        return configuration
    }

    /// The read model a fresh projection has after a full rebuild of `store`.
    static func freshLogs(of store: InMemoryEventStore) async throws -> [StreamID: [String]] {
        let fresh = StreamLogProjection(name: "fresh")
        try await ProjectionRunner(projection: fresh, store: store).rebuild()
        return fresh.logs
    }

    @Test func rebuildResetsAndReplaysWithProgress() async throws {
        let store = try await Self.makeStore()
        let projection = UpsertingProjection()
        let runner = ProjectionRunner(
            projection: projection, store: store, configuration: Self.configuration(batchSize: 10))
        try await whileRunning(runner) { try await runner.waitUntilApplied(through: 25) }
        #expect(projection.snapshot.resets == 0)

        let reports = Recorder<ProjectionRebuildProgress>()
        try await runner.rebuild { reports.append($0) }

        #expect(projection.snapshot.resets == 1)
        #expect(
            reports.elements.map { [$0.position, $0.head, UInt64($0.eventsApplied)] } == [
                [0, 25, 0], [10, 25, 10], [20, 25, 20], [25, 25, 25],
            ])
        #expect(reports.elements.last?.fractionCompleted == 1)
        #expect(projection.lines.count == 25)
        #expect(try await store.checkpoint(for: projection.name) == 25)
        #expect(try await store.checkpoint(for: runner.rebuildMarkerName) == 0)
    }

    @Test func rebuildingAnEmptyLogReportsCompletion() async throws {
        let store = InMemoryEventStore()
        let reports = Recorder<ProjectionRebuildProgress>()
        try await ProjectionRunner(projection: StreamLogProjection(), store: store).rebuild { reports.append($0) }
        #expect(reports.elements == [ProjectionRebuildProgress(position: 0, head: 0, eventsApplied: 0)])
        #expect(reports.elements[0].fractionCompleted == 1)
    }

    /// The rebuild's task is cancelled after `batches` batches (from its progress callback, as a kill would stop
    /// it there); a new runner resumes the rebuild and ends with the read model of a fresh full rebuild, each event
    /// applied exactly once.
    @Test(arguments: [1, 2, 4])
    func aRebuildKilledAfterSomeBatchesResumesAndEndsEqualToAFreshOne(batches: Int) async throws {
        let store = try await Self.makeStore()
        let projection = StreamLogProjection()
        let configuration = Self.configuration(batchSize: 4)
        try await ProjectionRunner(projection: projection, store: store, configuration: configuration).rebuild()
        #expect(projection.snapshot.eventsApplied == 25)

        let killed = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        let killedRebuild = Task {
            try await killed.rebuild { progress in
                if progress.eventsApplied == batches * 4 { cancelCurrentTask() }
            }
        }
        await #expect(throws: CancellationError.self) { try await killedRebuild.value }
        #expect(try await projection.position() == UInt64(batches * 4))
        #expect(try await store.checkpoint(for: killed.rebuildMarkerName) == 2)

        // More events arrive while the projection is down.
        try await appendValues([99], to: "b", in: store)

        let resumed = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        let reports = Recorder<ProjectionRebuildProgress>()
        try await resumed.rebuild { reports.append($0) }
        #expect(reports.elements.first?.position == UInt64(batches * 4))

        #expect(projection.logs == (try await Self.freshLogs(of: store)))
        // Counted since the reset: every event of the log applied exactly once across the kill.
        #expect(projection.snapshot.eventsApplied == 26)
        #expect(try await store.checkpoint(for: resumed.rebuildMarkerName) == 0)
    }

    /// With the checkpoint in the store and an idempotent apply: killed in the middle of a batch (the read model
    /// changed, the checkpoint not saved), the next `run()` completes the rebuild, redelivering that batch.
    @Test func aRebuildKilledMidBatchIsCompletedByTheNextRun() async throws {
        let store = try await Self.makeStore()
        let configuration = Self.configuration(batchSize: 5)
        let crashes = Atomic<Bool>(false)
        let projection = UpsertingProjection { batchNumber, _ in
            if batchNumber == 5 + 3, crashes.exchange(false, ordering: .relaxed) {
                cancelCurrentTask()
                throw CancellationError()
            }
        }
        let first = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        try await whileRunning(first) { try await first.waitUntilApplied(through: 25) }
        let before = projection.lines

        crashes.store(true, ordering: .relaxed)
        let killed = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        await #expect(throws: CancellationError.self) { try await Task { try await killed.rebuild() }.value }
        #expect(try await store.checkpoint(for: projection.name) == 10)
        #expect(projection.lines.count == 15)

        let resumed = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        try await whileRunning(resumed) { try await resumed.waitUntilApplied(through: 25) }
        // The first run's batches, then the rebuild's first three, then the resumed run from position 10.
        #expect(projection.snapshot.batches.count == 5 + 3 + 3)
        #expect(projection.snapshot.resets == 1)
        #expect(projection.lines == before)
        #expect(try await store.checkpoint(for: resumed.rebuildMarkerName) == 0)
    }

    /// A rebuild that died before its reset was known to have finished is reset again by the next run, so no line
    /// of the old read model survives with a checkpoint that skips it.
    @Test func aRebuildKilledDuringItsResetIsResetAgain() async throws {
        let store = try await Self.makeStore()
        let projection = UpsertingProjection()
        let runner = ProjectionRunner(projection: projection, store: store)
        try await whileRunning(runner) { try await runner.waitUntilApplied(through: 25) }
        // As a rebuild leaves the store if it dies between marking itself and resetting.
        try await store.saveCheckpoint(1, for: runner.rebuildMarkerName)

        let next = ProjectionRunner(projection: projection, store: store)
        try await whileRunning(next) { try await next.waitUntilApplied(through: 25) }
        #expect(projection.snapshot.resets == 1)
        #expect(projection.snapshot.applications.values.allSatisfy { $0 == 2 })
        #expect(try await store.checkpoint(for: next.rebuildMarkerName) == 0)
    }
}
