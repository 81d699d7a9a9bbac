import Foundation
import Logging
import ServiceLifecycle
import Testing
import WhizbangStore

@Suite(.timeLimit(.minutes(5)))
struct SQLiteEventStoreServiceTests {
    @Test func runClosesTheStoreWhenCancelled() async throws {
        try await withTemporaryDirectory { directory in
            let store = try await SQLiteEventStore.open(
                path: directory.appendingPathComponent("events.sqlite").path, configuration: .testing)
            _ = try await store.append(makeEvents(1), to: "a", expectedVersion: .noStream)
            let service = Task { try await store.run() }
            service.cancel()
            try await service.value
            await expectError(.closed) { _ = try await store.headPosition() }
        }
    }

    @Test func aServiceGroupFinishesCommandsBeforeTheStoreCloses() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            let dispatcher = Dispatcher(store: store)
            let counters = dispatcher.aggregate(TwoDispatchersTests.Counter.self)
            // Services shut down in reverse order: the dispatcher drains before the store closes.
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [store, dispatcher], logger: Logger(label: "test")))
            let running = Task { try await group.run() }
            // A handler in flight at shutdown sends its command only after shutdown has begun: the dispatcher must
            // wait for it, and the store must still be open when it sends.
            let (handlerStarted, started) = AsyncStream<Void>.makeStream()
            let (proceed, release) = AsyncStream<Void>.makeStream()
            let handler = Task {
                try await dispatcher.invoke(MessageEnvelope(message: "late")) { _ in
                    started.yield()
                    for await _ in proceed {}
                    return try await counters.send(.increment, to: "counter-late").streamVersion
                }
            }
            for await _ in handlerStarted { break }
            let sends = (0..<200).map { index in
                Task { try await counters.send(.increment, to: StreamID("counter-\(index % 10)")) }
            }
            await group.triggerGracefulShutdown()
            while dispatcher.isAcceptingWork { await Task.yield() }
            release.finish()
            #expect(try await handler.value == 1)
            try await running.value
            var acknowledged = 1
            for send in sends {
                if (try? await send.value) != nil { acknowledged += 1 }
            }
            // Every acknowledged command is in the file, the handler's included; nothing was half-written.
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.headPosition() == UInt64(acknowledged))
            #expect(try await reopened.integrityCheck() == [])
        }
    }
}
