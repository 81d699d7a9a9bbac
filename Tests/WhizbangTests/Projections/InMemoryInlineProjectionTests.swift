import Foundation
import Synchronization
import Testing
import Whizbang

@Suite struct InMemoryInlineProjectionTests {
    /// Counts events per type; refuses a batch that holds a "Poison" event.
    final class TypeCounts: InMemoryInlineProjection {
        struct Poisoned: Error {}
        let name = "type-counts"
        private let counts = Mutex<[String: Int]>([:])

        func apply(_ events: [RecordedEvent]) throws {
            if events.contains(where: { $0.eventType == "Poison" }) { throw Poisoned() }
            counts.withLock { counts in
                for event in events { counts[event.eventType, default: 0] += 1 }
            }
        }

        var value: [String: Int] { counts.withLock { $0 } }
    }

    func makeStore(_ projection: TypeCounts) -> InMemoryEventStore {
        var configuration = InMemoryEventStore.Configuration()
        configuration.inlineProjections = [projection]
        return InMemoryEventStore(configuration: configuration)
    }

    func events(_ types: String...) -> [EventData] {
        types.map { EventData(eventType: $0, data: Data("{}".utf8)) }
    }

    @Test func theReadModelIsCurrentWhenTheAppendReturns() async throws {
        let projection = TypeCounts()
        let store = makeStore(projection)
        _ = try await store.append(events("Opened", "Deposited"), to: "a", expectedVersion: .noStream)
        #expect(projection.value == ["Opened": 1, "Deposited": 1])
        _ = try await store.append(events("Deposited"), to: "a", expectedVersion: .exact(2))
        #expect(projection.value == ["Opened": 1, "Deposited": 2])
    }

    @Test func aFailingProjectionFailsTheAppendAndNothingIsStored() async throws {
        let projection = TypeCounts()
        let store = makeStore(projection)
        _ = try await store.append(events("Opened"), to: "a", expectedVersion: .noStream)
        await #expect {
            _ = try await store.append(events("Deposited", "Poison"), to: "a", expectedVersion: .exact(1))
        } throws: { error in
            let error = error as? EventStoreError
            return error?.code == .inlineProjectionFailed && error?.streamID == "a"
        }
        #expect(try await store.streamVersion(of: "a") == 1)
        #expect(try await store.headPosition() == 1)
        #expect(projection.value == ["Opened": 1])
        // The store goes on: the next append gets the next position.
        let result = try await store.append(events("Deposited"), to: "a", expectedVersion: .exact(1))
        #expect(result.positions == 2..<3)
    }

    @Test func rejectedAndRetriedAppendsDoNotReachTheProjection() async throws {
        let projection = TypeCounts()
        let store = makeStore(projection)
        let opened = events("Opened")
        _ = try await store.append(opened, to: "a", expectedVersion: .noStream)
        _ = try await store.append(opened, to: "a", expectedVersion: .noStream)  // an idempotent retry
        await #expect(throws: EventStoreError.self) {
            _ = try await store.append(events("Deposited"), to: "a", expectedVersion: .noStream)
        }
        #expect(projection.value == ["Opened": 1])
    }
}
