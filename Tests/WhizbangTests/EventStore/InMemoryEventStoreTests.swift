#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing
import Whizbang

@Suite struct InMemoryEventStoreTests {
    @Test func defaultPayloadLimitIsSixteenMebibytes() {
        #expect(InMemoryEventStore.Configuration().maximumPayloadBytes == 16 * 1024 * 1024)
        #expect(InMemoryEventStore().configuration.maximumPayloadBytes == 16 * 1024 * 1024)
    }

    @Test func payloadAtTheLimitIsAccepted() async throws {
        let store = InMemoryEventStore(configuration: limited(to: 8))
        let event = EventData(eventType: "E", data: Data(count: 8), metadata: Data(count: 8))
        let result = try await store.append([event], to: "s", expectedVersion: .noStream)
        #expect(result.streamVersion == 1)
        try await store.saveSnapshot(Snapshot(streamID: "s", streamVersion: 1, stateType: "S", data: Data(count: 8)))
    }

    @Test func dataOverTheLimitIsRejected() async throws {
        let store = InMemoryEventStore(configuration: limited(to: 8))
        let events = [
            EventData(eventType: "E", data: Data(count: 1)),
            EventData(eventType: "E", data: Data(count: 9)),
        ]
        let error = try await #require(throws: EventStoreError.self) {
            try await store.append(events, to: "s", expectedVersion: .any)
        }
        #expect(error.code == .payloadTooLarge)
        #expect(error.streamID == "s")
        #expect(try await store.headPosition() == 0)
    }

    @Test func metadataOverTheLimitIsRejected() async throws {
        let store = InMemoryEventStore(configuration: limited(to: 8))
        let event = EventData(eventType: "E", data: Data(), metadata: Data(count: 9))
        let error = try await #require(throws: EventStoreError.self) {
            try await store.append([event], to: "s", expectedVersion: .any)
        }
        #expect(error.code == .payloadTooLarge)
        #expect(try await store.streamVersion(of: "s") == 0)
    }

    @Test func snapshotOverTheLimitIsRejected() async throws {
        let store = InMemoryEventStore(configuration: limited(to: 8))
        let snapshot = Snapshot(streamID: "s", streamVersion: 1, stateType: "S", data: Data(count: 9))
        let error = try await #require(throws: EventStoreError.self) {
            try await store.saveSnapshot(snapshot)
        }
        #expect(error.code == .payloadTooLarge)
        #expect(try await store.latestSnapshot(for: "s") == nil)
    }

    @Test func validationPrecedesTheVersionCheck() async throws {
        let store = InMemoryEventStore(configuration: limited(to: 8))
        let event = EventData(eventType: "E", data: Data(count: 9))
        let error = try await #require(throws: EventStoreError.self) {
            try await store.append([event], to: "s", expectedVersion: .exact(5))
        }
        #expect(error.code == .payloadTooLarge)
    }

    @Test func emptyCheckpointNameIsRejected() async throws {
        let store = InMemoryEventStore()
        let error = try await #require(throws: EventStoreError.self) {
            try await store.saveCheckpoint(1, for: "")
        }
        #expect(error.code == .invalidArgument)
    }

    @Test func emptySnapshotStateTypeIsRejected() async throws {
        let store = InMemoryEventStore()
        let snapshot = Snapshot(streamID: "s", streamVersion: 1, stateType: "", data: Data())
        let error = try await #require(throws: EventStoreError.self) {
            try await store.saveSnapshot(snapshot)
        }
        #expect(error.code == .invalidArgument)
    }

    @Test func retriesMatchEventIDsNotPayloads() async throws {
        let store = InMemoryEventStore()
        let event = EventData(eventType: "E", data: Data(#"{"a":1,"b":2}"#.utf8))
        let original = try await store.append([event], to: "s", expectedVersion: .noStream)
        var reencoded = event
        reencoded.data = Data(#"{"b":2,"a":1}"#.utf8)
        #expect(try await store.append([reencoded], to: "s", expectedVersion: .noStream) == original)
        let stored = try await store.readStream("s", from: 1, direction: .forwards, limit: 1)
        #expect(stored.map(\.data) == [event.data])
    }

    private func limited(to size: Int) -> InMemoryEventStore.Configuration {
        var configuration = InMemoryEventStore.Configuration()
        configuration.maximumPayloadBytes = size
        return configuration
    }
}
