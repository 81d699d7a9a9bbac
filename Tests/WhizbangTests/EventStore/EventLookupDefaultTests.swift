import Foundation
import Testing
import Whizbang
import WhizbangTesting

/// A store that forwards everything to an in-memory store except `event(withID:)`, so that the protocol's default
/// (a scan of the log) answers it.
private struct StoreWithoutLookup: EventStore {
    let inner = InMemoryEventStore()

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    { try await inner.append(events, to: streamID, expectedVersion: expectedVersion) }
    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int) async throws
        -> [RecordedEvent]
    { try await inner.readStream(streamID, from: version, direction: direction, limit: limit) }
    func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try await inner.readAll(after: position, limit: limit)
    }
    func headPosition() async throws -> UInt64 { try await inner.headPosition() }
    func streamVersion(of streamID: StreamID) async throws -> UInt64 { try await inner.streamVersion(of: streamID) }
    func waitForEvents(after position: UInt64) async throws { try await inner.waitForEvents(after: position) }
    func checkpoint(for consumer: String) async throws -> UInt64? { try await inner.checkpoint(for: consumer) }
    func saveCheckpoint(_ position: UInt64, for consumer: String) async throws {
        try await inner.saveCheckpoint(position, for: consumer)
    }
    func saveSnapshot(_ snapshot: Snapshot) async throws { try await inner.saveSnapshot(snapshot) }
    func latestSnapshot(for streamID: StreamID) async throws -> Snapshot? {
        try await inner.latestSnapshot(for: streamID)
    }
}

@Suite struct EventLookupDefaultTests {
    @Test(.timeLimit(.minutes(1)))
    func theDefaultLookupScansTheLogAndKeepsTheContract() async throws {
        let check = try #require(EventStoreContract.checks.first { $0.name == "read.eventByID" })
        try await check.run(StoreWithoutLookup())
    }

    @Test(.timeLimit(.minutes(1)))
    func theDefaultLookupFindsAnEventPastItsFirstBatch() async throws {
        let store = StoreWithoutLookup()
        let events = (0..<5_000).map { EventData(eventType: "E", data: Data("\($0)".utf8)) }
        _ = try await store.append(events, to: "s", expectedVersion: .noStream)
        let found = try #require(try await store.event(withID: events[4_999].eventID))
        #expect(found.position == 5_000)
        #expect(try await store.event(withID: MessageID()) == nil)
    }
}
