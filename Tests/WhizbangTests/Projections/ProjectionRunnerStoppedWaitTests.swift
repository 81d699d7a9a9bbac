import Foundation
import Testing
import Whizbang

/// Waits on a runner that has stopped fail with `stopped` instead of waiting for a run that may never come.
@Suite("Projection runner waits after a stop", .timeLimit(.minutes(1)))
struct ProjectionRunnerStoppedWaitTests {
    struct Broken: Error {}

    /// A projection that fails on every batch.
    struct FailingProjection: Projection {
        let name = "failing"
        func apply(_ events: [RecordedEvent]) async throws { throw Broken() }
        func reset() async throws {}
    }

    /// A projection that opens a gate once it has applied position 2.
    struct GatedProjection: Projection {
        let name = "gated"
        let appliedSecond = TestGate()
        func apply(_ events: [RecordedEvent]) async throws {
            if events.contains(where: { $0.position == 2 }) { appliedSecond.open() }
        }
        func reset() async throws {}
    }

    /// `settled(upTo:)` promises that it "never waits for a runner that has stopped"; called after the runner's
    /// projection threw, it waited for the next `run()`.
    @Test func settledAfterTheRunnerStoppedFails() async throws {
        let store = InMemoryEventStore()
        let appended = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8))], to: "s", expectedVersion: .noStream)
        let runner = ProjectionRunner(projection: FailingProjection(), store: store)
        await #expect(throws: Broken.self) { try await runner.run() }
        await #expect { try await runner.settled(upTo: appended.positions.upperBound - 1) } throws: {
            ($0 as? ProjectionError)?.code == .stopped
        }
        await #expect { try await runner.waitUntilApplied(through: appended.positions.upperBound - 1) } throws: {
            ($0 as? ProjectionError)?.code == .stopped
        }
    }

    /// Before the first run a wait waits for it; a stop fails the waits after it; a runner that runs again serves
    /// waits again.
    @Test func aRunAfterAStopServesWaitsAgain() async throws {
        let store = InMemoryEventStore()
        let first = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8))], to: "s", expectedVersion: .noStream)
        let projection = GatedProjection()
        let runner = ProjectionRunner(projection: projection, store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.waitUntilApplied(through: first.positions.upperBound - 1) }
            group.addTask { try await runner.run() }
            try await group.next()
            group.cancelAll()
            try? await group.waitForAll()
        }
        let second = try await store.append(
            [EventData(eventType: "Value", data: Data("2".utf8))], to: "s", expectedVersion: .exact(1))
        let target = second.positions.upperBound - 1
        await #expect { try await runner.waitUntilApplied(through: target) } throws: {
            ($0 as? ProjectionError)?.code == .stopped
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            await projection.appliedSecond.wait()
            try await runner.settled(upTo: target)
            group.cancelAll()
            try? await group.waitForAll()
        }
    }

    /// A rebuild is not a stop: a wait that begins after a rebuild, before the runner's run(), waits for it.
    @Test func aWaitAfterARebuildWaitsForRun() async throws {
        let store = InMemoryEventStore()
        let first = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8))], to: "s", expectedVersion: .noStream)
        let projection = GatedProjection()
        let runner = ProjectionRunner(projection: projection, store: store)
        try await runner.rebuild()
        let second = try await store.append(
            [EventData(eventType: "Value", data: Data("2".utf8))], to: "s", expectedVersion: .exact(1))
        _ = first
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.waitUntilApplied(through: second.positions.upperBound - 1) }
            group.addTask { try await runner.run() }
            try await group.next()
            group.cancelAll()
            try? await group.waitForAll()
        }
    }

    /// The same for a wait that began before the rebuild: the rebuild's end failed it with `stopped`, although the
    /// runner had never stopped and run() came after.
    @Test func aWaitStartedBeforeARebuildWaitsForRun() async throws {
        let store = InMemoryEventStore()
        let first = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8))], to: "s", expectedVersion: .noStream)
        let runner = ProjectionRunner(projection: GatedProjection(), store: store)
        // Registered before Task.immediate returns: the wait does not suspend before it takes its place.
        let wait = Task.immediate { try await runner.waitUntilApplied(through: first.positions.upperBound) }
        try await runner.rebuild()
        _ = try await store.append(
            [EventData(eventType: "Value", data: Data("2".utf8))], to: "s", expectedVersion: .exact(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await wait.value }
            group.addTask { try await runner.run() }
            try await group.next()
            group.cancelAll()
            try? await group.waitForAll()
        }
    }

    /// A rebuild of a runner whose run() had stopped leaves it stopped: a wait for a position the rebuild did not
    /// reach fails, instead of waiting for a run that may never come. Before, the rebuild cleared the mark, and such a
    /// wait waited for ever.
    @Test func aRebuildLeavesAStoppedRunnerStopped() async throws {
        let store = InMemoryEventStore()
        let first = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8))], to: "s", expectedVersion: .noStream)
        let runner = ProjectionRunner(projection: GatedProjection(), store: store)
        let run = Task { try await runner.run() }
        try await runner.waitUntilApplied(through: first.positions.upperBound - 1)
        run.cancel()
        _ = try? await run.value
        try await runner.rebuild()
        await #expect { try await runner.waitUntilApplied(through: first.positions.upperBound) } throws: {
            ($0 as? ProjectionError)?.code == .stopped
        }
    }
}