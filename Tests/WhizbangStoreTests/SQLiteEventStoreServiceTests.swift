import Foundation
import Logging
import ServiceLifecycle
import Testing
import WhizbangStore

@Suite(.timeLimit(.minutes(1)))
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
            let sends = (0..<200).map { index in
                Task { try await counters.send(.increment, to: StreamID("counter-\(index % 10)")) }
            }
            await group.triggerGracefulShutdown()
            try await running.value
            var acknowledged = 0
            for send in sends {
                if (try? await send.value) != nil { acknowledged += 1 }
            }
            // Every acknowledged command is in the file; nothing was half-written.
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.headPosition() == UInt64(acknowledged))
            #expect(try await reopened.integrityCheck() == [])
        }
    }
}
