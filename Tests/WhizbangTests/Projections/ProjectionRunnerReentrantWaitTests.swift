import Foundation
import Synchronization
import Testing
import Whizbang

/// A wait on a runner from inside its own work: its projection's `apply` (a process manager that sends a command and
/// waits for the runner to settle past it), or a rebuild's progress. The runner applies nothing more until that work
/// returns, so the wait never ended: the runner hung, and a graceful shutdown with it. It now fails at once.
@Suite("Projection runner waits from inside its own work", .timeLimit(.minutes(1)))
struct ProjectionRunnerReentrantWaitTests {
    /// The runner, set once it exists: the projection needs it, and the runner needs the projection.
    final class RunnerBox: Sendable {
        let runner = Mutex<ProjectionRunner<InMemoryEventStore>?>(nil)
    }

    /// A projection that, for each batch, waits for its own runner to pass the batch's last event, and records
    /// whether a wait for a position already applied returned.
    final class WaitingProjection: Projection, Sendable {
        let name = "waiting"
        let box: RunnerBox
        let appliedWaitReturned = Mutex(false)

        init(box: RunnerBox) {
            self.box = box
        }

        func apply(_ events: [RecordedEvent]) async throws {
            guard let runner = box.runner.withLock({ $0 }), let last = events.last, last.position > 1 else { return }
            try await runner.waitUntilApplied(through: last.position - 1)
            appliedWaitReturned.withLock { $0 = true }
            try await runner.settled(upTo: last.position)
        }

        func reset() async throws {}
    }

    @Test("a wait from inside apply for a position not applied fails with reentrantWait; one applied returns")
    func aWaitFromInsideApplyFails() async throws {
        let store = InMemoryEventStore()
        _ = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8)), EventData(eventType: "Value", data: Data("2".utf8))],
            to: "s", expectedVersion: .noStream)
        let box = RunnerBox()
        let projection = WaitingProjection(box: box)
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 1
        let runner = ProjectionRunner(projection: projection, store: store, configuration: configuration)
        box.runner.withLock { $0 = runner }
        await #expect { try await runner.run() } throws: {
            ($0 as? ProjectionError)?.code == .reentrantWait && ($0 as? ProjectionError)?.position == 2
        }
        #expect(projection.appliedWaitReturned.withLock { $0 }, "a wait for a position applied returns at once")
    }

    @Test("a wait from inside a rebuild's progress for a position not applied fails with reentrantWait")
    func aWaitFromInsideProgressFails() async throws {
        let store = InMemoryEventStore()
        _ = try await store.append(
            [EventData(eventType: "Value", data: Data("1".utf8))], to: "s", expectedVersion: .noStream)
        let box = RunnerBox()
        let runner = ProjectionRunner(projection: WaitingProjection(box: box), store: store)
        await #expect {
            try await runner.rebuild { progress in
                try await runner.waitUntilApplied(through: progress.head)
            }
        } throws: {
            ($0 as? ProjectionError)?.code == .reentrantWait
        }
    }
}
