import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A job that names its event types reads and applies only those, and its checkpoint moves over the other events:
/// with every batch it applies, and at most once an interval over a stretch of other events alone.
@Suite("Cluster jobs of some event types", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterJobEventTypesTests {
    /// A node that runs `job`, has claimed it at epoch 1, and the job's runner.
    func claimedRunner(_ job: TypedTally, _ store: PostgresEventStore) async throws -> JobRunner {
        try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
        let node = try ClusterNode(
            nodeID: "typed", store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster(),
            jobs: [job])
        try await node.leases.register()
        #expect(try await node.leases.beat().claimedJobs == [job.name: JobOwnership.Claim(epoch: 1, checkpoint: 0)])
        return try #require(node.jobRunners[job.name])
    }

    func append(_ types: [String], to store: PostgresEventStore) async throws {
        for type in types {
            _ = try await store.append(
                [EventData(eventType: type, data: Data("{}".utf8))], to: "typed-stream", expectedVersion: .any)
        }
    }

    @Test("only the job's types are applied, and the checkpoint moves past the other events after them")
    func onlyTheTypesAreApplied() async throws {
        try await ClusterTestDatabase.withStore { store in
            let job = TypedTally()
            let runner = try await claimedRunner(job, store)
            try await append(["Other", "Wanted", "Other", "Other", "Wanted", "Other", "Other"], to: store)
            let ending = await runner.run(epoch: 1, from: 0, wake: Wakeup()) { job.positions.count < 2 }
            #expect(ending == .stopped)
            #expect(job.positions == [2, 5])
            #expect(job.types == ["Wanted"])
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "7")
        }
    }

    @Test("over other events alone the checkpoint moves once its interval has passed, not before")
    func skippedEventsMoveTheCheckpointAtItsInterval() async throws {
        try await ClusterTestDatabase.withStore { store in
            let job = TypedTally()
            var runner = try await claimedRunner(job, store)
            try await append(["Other", "Other", "Other"], to: store)

            // One pass with an interval that cannot have passed: the stretch is skipped, the checkpoint not written.
            runner.skippedEventsCheckpointInterval = .seconds(3_600)
            let once = Atomic(0)
            let onePass: @Sendable () -> Bool = { once.add(1, ordering: .relaxed).oldValue == 0 }
            #expect(await runner.run(epoch: 1, from: 0, wake: Wakeup(), mayContinue: onePass) == .stopped)
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "0")

            // One pass with the interval passed: the checkpoint moves over the three events, none applied.
            runner.skippedEventsCheckpointInterval = .zero
            let again = Atomic(0)
            let anotherPass: @Sendable () -> Bool = { again.add(1, ordering: .relaxed).oldValue == 0 }
            #expect(await runner.run(epoch: 1, from: 0, wake: Wakeup(), mayContinue: anotherPass) == .stopped)
            #expect(try await ClusterTestDatabase.jobCheckpoint(job.name, store: store) == "3")
            #expect(job.positions.isEmpty)
        }
    }
}

/// A projection of `Wanted` events that records what it was given.
final class TypedTally: Projection, Sendable {
    let name = "typed-tally"
    let eventTypes: Set<String>? = ["Wanted"]
    private let seen = Mutex<[RecordedEvent]>([])

    var positions: [UInt64] { seen.withLock { $0.map(\.position) } }
    var types: Set<String> { seen.withLock { Set($0.map(\.eventType)) } }

    func apply(_ events: [RecordedEvent]) async throws { seen.withLock { $0.append(contentsOf: events) } }
    func reset() async throws {}
}
