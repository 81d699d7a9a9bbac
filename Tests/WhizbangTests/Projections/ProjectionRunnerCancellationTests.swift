import Foundation
import Testing
import Whizbang

/// A store whose reads throw `CancellationError` once their task is cancelled, as the SQLite and PostgreSQL stores'
/// reads do.
private struct CancellableReadsStore: DelegatingEventStore {
    let inner = InMemoryEventStore()

    func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try Task.checkCancellation()
        return try await inner.readAll(after: position, limit: limit)
    }

    func headPosition() async throws -> UInt64 {
        try Task.checkCancellation()
        return try await inner.headPosition()
    }
}

/// `run()` cancelled while it catches up: it returns normally, with the batch it applied saved and published.
@Suite("Projection runner cancelled while catching up")
struct ProjectionRunnerCancellationTests {
    @Test("cancelled after a batch, run() returns normally and the batch's position is published")
    func cancelledMidCatchUp() async throws {
        let store = CancellableReadsStore()
        try await appendValues(1...10, to: "a", in: store)
        // The projection cancels the task that runs it while it applies the first batch: the runner's next read,
        // after the batch's checkpoint, finds the task cancelled.
        let projection = UpsertingProjection { _, _ in withUnsafeCurrentTask { $0?.cancel() } }
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 4
        let board = ProjectionStatusBoard()
        configuration.statusBoard = board
        let runner = ProjectionRunner(projection: projection, store: store, configuration: configuration)

        // Before, run() threw the store's CancellationError and left the applied position at 0.
        try await Task { try await runner.run() }.value
        #expect(try await store.checkpoint(for: "upserting") == 4)
        #expect(runner.appliedPosition == 4)
        #expect(projection.snapshot.batches == [[1, 2, 3, 4]])
        #expect(board.status(of: "upserting")?.state == .stopped)
        // A waiter for the published position is answered; one for a later position hears that the runner stopped.
        try await runner.waitUntilApplied(through: 4)
        let error = await #expect(throws: ProjectionError.self) { try await runner.waitUntilApplied(through: 5) }
        #expect(error?.code == .stopped)
    }

    @Test("a CancellationError of the projection's own, its task not cancelled, fails run() as any error does")
    func projectionsOwnCancellationErrorFails() async throws {
        let store = CancellableReadsStore()
        try await appendValues(1...3, to: "a", in: store)
        let projection = UpsertingProjection { _, _ in throw CancellationError() }
        let board = ProjectionStatusBoard()
        var configuration = ProjectionRunnerConfiguration()
        configuration.statusBoard = board
        let runner = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        await #expect(throws: CancellationError.self) { try await runner.run() }
        #expect(try await store.checkpoint(for: "upserting") == nil)
        // Before, the board said `stopped`, as for a runner that was asked to stop: a failure that nobody asked for
        // looked like a clean stop.
        let status = board.status(of: "upserting")
        #expect(status?.state == .failed, "\(String(describing: status))")
        #expect(status?.error == String(describing: CancellationError()))
    }

    @Test("a rebuild cancelled is recorded as stopped; one ended by the projection's own CancellationError as failed")
    func rebuildStatusAfterCancellation() async throws {
        let store = CancellableReadsStore()
        try await appendValues(1...10, to: "a", in: store)
        let board = ProjectionStatusBoard()
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 4
        configuration.statusBoard = board

        let cancelled = ProjectionRunner(projection: UpsertingProjection(), store: store, configuration: configuration)
        let rebuild = Task { try await cancelled.rebuild { _ in withUnsafeCurrentTask { $0?.cancel() } } }
        await #expect(throws: CancellationError.self) { try await rebuild.value }
        #expect(board.status(of: "upserting")?.state == .stopped)
        #expect(board.status(of: "upserting")?.error == nil)

        let refusing = UpsertingProjection(name: "refusing") { _, _ in throw CancellationError() }
        let failed = ProjectionRunner(projection: refusing, store: store, configuration: configuration)
        await #expect(throws: CancellationError.self) { try await failed.rebuild() }
        #expect(board.status(of: "refusing")?.state == .failed)
    }
}
