import Logging
import ServiceLifecycle
import Synchronization
import Testing
import Whizbang

@Suite(.timeLimit(.minutes(5)))
struct ProjectionRunnerTests {
    @Test func catchesUpInBatchesThenFollowsNewEvents() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...5, to: "a", in: store)
        let projection = UpsertingProjection()
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 2
        let runner = ProjectionRunner(projection: projection, store: store, configuration: configuration)

        try await whileRunning(runner) {
            try await runner.waitUntilApplied(through: 5)
            #expect(projection.snapshot.batches == [[1, 2], [3, 4], [5]])
            try await appendValues(6...8, to: "b", in: store)
            try await runner.waitUntilApplied(through: 8)
        }

        #expect(projection.lines.count == 8)
        #expect(projection.lines[8] == "b#3=8")
        #expect(projection.snapshot.applications.values.allSatisfy { $0 == 1 })
        #expect(try await store.checkpoint(for: projection.name) == 8)
        #expect(runner.appliedPosition == 8)
    }

    @Test func resumesFromTheStoredCheckpoint() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...4, to: "a", in: store)
        let projection = UpsertingProjection()
        let first = ProjectionRunner(projection: projection, store: store)
        try await whileRunning(first) { try await first.waitUntilApplied(through: 4) }

        try await appendValues(5...7, to: "a", in: store)
        let second = ProjectionRunner(projection: projection, store: store)
        try await whileRunning(second) { try await second.waitUntilApplied(through: 7) }

        #expect(projection.snapshot.batches == [[1, 2, 3, 4], [5, 6, 7]])
        #expect(projection.snapshot.applications.values.allSatisfy { $0 == 1 })
        #expect(try await store.checkpoint(for: projection.name) == 7)
    }

    /// A batch whose read model changes are committed, with the projection's own position, is not applied again
    /// even when the runner dies before it returns; an event-store checkpoint would have redelivered it.
    @Test func aProjectionThatKeepsItsPositionIsAppliedExactlyOnce() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...6, to: "a", in: store)
        let crashes = Atomic<Bool>(true)
        let projection = StreamLogProjection { batchNumber, _ in
            if batchNumber == 2, crashes.exchange(false, ordering: .relaxed) { throw SimulatedCrash() }
        }
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 2
        let crashing = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        await #expect(throws: SimulatedCrash.self) { try await crashing.run() }
        #expect(try await projection.position() == 4)
        #expect(try await store.checkpoint(for: projection.name) == nil)

        let restarted = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        try await whileRunning(restarted) { try await restarted.waitUntilApplied(through: 6) }
        #expect(projection.snapshot.logs == ["a": ["1", "2", "3", "4", "5", "6"]])
        #expect(projection.snapshot.eventsApplied == 6)
    }

    /// With the checkpoint in the store, a batch that failed after changing the read model is delivered again —
    /// at least once — and an idempotent apply absorbs it.
    @Test func aFailedBatchIsDeliveredAgainWithAStoreCheckpoint() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...6, to: "a", in: store)
        let crashes = Atomic<Bool>(true)
        let projection = UpsertingProjection { batchNumber, _ in
            if batchNumber == 2, crashes.exchange(false, ordering: .relaxed) { throw SimulatedCrash() }
        }
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 2
        let crashing = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        await #expect(throws: SimulatedCrash.self) { try await crashing.run() }
        #expect(try await store.checkpoint(for: projection.name) == 2)

        let restarted = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        try await whileRunning(restarted) { try await restarted.waitUntilApplied(through: 6) }
        #expect(projection.snapshot.applications == [1: 1, 2: 1, 3: 2, 4: 2, 5: 1, 6: 1])
        #expect(projection.lines.count == 6)
    }

    /// Graceful shutdown during a batch lets the batch finish and saves its checkpoint before `run()` returns.
    @Test func gracefulShutdownFinishesTheBatchAndSavesItsCheckpoint() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...3, to: "a", in: store)
        let entered = TestGate()
        let release = TestGate()
        let projection = UpsertingProjection { batchNumber, _ in
            if batchNumber == 2 {
                entered.open()
                await release.wait()
            }
        }
        let runner = ProjectionRunner(projection: projection, store: store)
        let group = ServiceGroup(services: [runner], logger: Logger(label: "test"))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await runner.waitUntilApplied(through: 3)
            try await appendValues(4...5, to: "a", in: store)
            await entered.wait()
            await group.triggerGracefulShutdown()
            release.open()
            try await tasks.waitForAll()
        }

        #expect(try await store.checkpoint(for: projection.name) == 5)
        #expect(projection.lines.count == 5)
    }

    @Test func gracefulShutdownWhileIdleStopsTheRunner() async throws {
        let store = InMemoryEventStore()
        try await appendValues(1...3, to: "a", in: store)
        let runner = ProjectionRunner(projection: UpsertingProjection(), store: store)
        let group = ServiceGroup(services: [runner], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await runner.waitUntilApplied(through: 3)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(try await store.checkpoint(for: "upserting") == 3)
    }

    @Test func runningTwiceAtOnceIsRefused() async throws {
        let store = InMemoryEventStore()
        let runner = ProjectionRunner(projection: UpsertingProjection(), store: store)
        try await whileRunning(runner) {
            try await runner.waitUntilApplied(through: 0)
            let error = await #expect(throws: ProjectionError.self) { try await runner.run() }
            #expect(error?.code == .alreadyActive)
            let rebuildError = await #expect(throws: ProjectionError.self) { try await runner.rebuild() }
            #expect(rebuildError?.code == .alreadyActive)
        }
    }

    @Test func aProjectionWithoutItsPositionIsReported() async throws {
        let runner = ProjectionRunner(projection: ForgetfulProjection(), store: InMemoryEventStore())
        let error = await #expect(throws: ProjectionError.self) { try await runner.run() }
        #expect(error?.code == .positionUnavailable)
    }

    @Test func waitingIsCancellable() async throws {
        let runner = ProjectionRunner(projection: UpsertingProjection(), store: InMemoryEventStore())
        let task = Task { try await runner.waitUntilApplied(through: 1) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
