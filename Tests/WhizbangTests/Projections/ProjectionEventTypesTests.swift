import Foundation
import Synchronization
import Testing
import Whizbang

/// A projection that names its event types receives only those, in order, and its checkpoint still moves over the
/// others, so that waiting for a position past them returns.
@Suite(.timeLimit(.minutes(1)))
struct ProjectionEventTypesTests {
    /// Appends one event of each of `types` to `stream`, in order.
    private func append(_ types: [String], to stream: StreamID, in store: some EventStore) async throws {
        _ = try await store.append(
            types.map { EventData(eventType: $0, data: Data($0.utf8)) }, to: stream, expectedVersion: .any)
    }

    @Test func onlyTheNamedTypesAreAppliedAndTheCheckpointMovesOverTheRest() async throws {
        let store = InMemoryEventStore()
        // Positions 1...8: Value at 2, 5 and 6; batches of 2 make [1, 2], [3, 4], [5, 6], [7, 8].
        try await append(["Other", "Value", "Other", "Other", "Value", "Value", "Other", "Other"], to: "a", in: store)
        let projection = UpsertingProjection(eventTypes: ["Value"])
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 2
        let runner = ProjectionRunner(projection: projection, store: store, configuration: configuration)

        try await whileRunning(runner) {
            try await runner.waitUntilApplied(through: 8)
            try await append(["Other", "Value"], to: "b", in: store)
            try await runner.waitUntilApplied(through: 10)
        }

        #expect(projection.snapshot.batches == [[2], [5, 6], [10]])
        #expect(try await store.checkpoint(for: projection.name) == 10)
        #expect(runner.appliedPosition == 10)
    }

    @Test func everyEventIsAppliedByDefault() async throws {
        let store = InMemoryEventStore()
        try await append(["Other", "Value", "Other"], to: "a", in: store)
        let projection = UpsertingProjection()
        #expect(projection.eventTypes == nil)
        let runner = ProjectionRunner(projection: projection, store: store)
        try await whileRunning(runner) { try await runner.waitUntilApplied(through: 3) }
        #expect(projection.snapshot.batches == [[1, 2, 3]])
    }

    @Test func aRebuildAppliesOnlyTheNamedTypes() async throws {
        let store = InMemoryEventStore()
        try await append(["Value", "Other", "Value"], to: "a", in: store)
        let projection = UpsertingProjection(eventTypes: ["Value"])
        let runner = ProjectionRunner(projection: projection, store: store)
        try await runner.rebuild()
        #expect(projection.snapshot.batches == [[1, 3]])
        #expect(projection.snapshot.resets == 1)
        #expect(try await store.checkpoint(for: projection.name) == 3)
    }

    @Test func aRebuildCountsOnlyTheEventsItApplied() async throws {
        let store = InMemoryEventStore()
        try await append(["Value", "Other", "Other", "Value", "Other"], to: "a", in: store)
        let projection = UpsertingProjection(eventTypes: ["Value"])
        let runner = ProjectionRunner(projection: projection, store: store)
        let reports = Mutex<[ProjectionRebuildProgress]>([])
        try await runner.rebuild { report in reports.withLock { $0.append(report) } }
        #expect(projection.snapshot.batches == [[1, 4]])
        #expect(reports.withLock { $0.last?.eventsApplied } == 2)
        #expect(reports.withLock { $0.last?.position } == 5)
    }
}
