import Foundation
import ServiceLifecycleTestKit
import Testing
import Whizbang

/// `run()` as a service: graceful shutdown drains, cancellation stops, even while a handler never returns.
@Suite("Dispatcher run cancellation", .timeLimit(.minutes(1)))
struct DispatcherRunCancellationTests {
    /// A service group cancels `run()` when graceful shutdown takes too long; the drain then stops waiting. Before,
    /// the drain ran in an unstructured task that cancellation could not reach, and `run()` waited for the stuck
    /// handler for ever.
    @Test func cancellingRunReturnsWhileAHandlerIsStuck() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let started = TestGate()
        let release = TestGate()
        let stuck = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "stuck")) { _ in
                started.open()
                await release.wait()
                return 1
            }
        }
        await started.wait()
        let run = Task { try await dispatcher.run() }
        run.cancel()
        try await run.value
        #expect(!dispatcher.isAcceptingWork)
        await #expect { _ = try await dispatcher.aggregate(BankAccount.self).send(.open(1), to: "a") } throws: {
            ($0 as? DispatchError)?.code == .shutDown
        }
        release.open()
        #expect(try await stuck.value == 1, "the running handler finishes and its caller gets its result")
    }

    /// Graceful shutdown first: `run()` drains, waiting for the stuck handler; cancelled then, it stops waiting.
    @Test func cancellingRunWhileItDrainsReturns() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        let started = TestGate()
        let release = TestGate()
        let stuck = Task {
            try await dispatcher.invoke(MessageEnvelope(message: "stuck")) { _ in
                started.open()
                await release.wait()
                return 1
            }
        }
        await started.wait()
        try await testGracefulShutdown { trigger in
            let run = Task { try await dispatcher.run() }
            trigger.triggerGracefulShutdown()
            // The drain stops admission first; no event marks it, so look until it has.
            while dispatcher.isAcceptingWork { await Task.yield() }
            run.cancel()
            try await run.value
        }
        release.open()
        #expect(try await stuck.value == 1)
    }
}
