import Whizbang

/// A test store that hands every call to an in-memory store, except those it implements itself: a test's store
/// writes only the calls it changes (an append that waits at a gate, a read that counts).
protocol DelegatingEventStore: EventStore {
    /// The store the calls go to.
    var inner: InMemoryEventStore { get }
}

extension DelegatingEventStore {
    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
    }

    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int) async throws
        -> [RecordedEvent]
    {
        try await inner.readStream(streamID, from: version, direction: direction, limit: limit)
    }

    func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try await inner.readAll(after: position, limit: limit)
    }

    func headPosition() async throws -> UInt64 { try await inner.headPosition() }
    func streamVersion(of streamID: StreamID) async throws -> UInt64 { try await inner.streamVersion(of: streamID) }
    func event(withID eventID: MessageID) async throws -> RecordedEvent? { try await inner.event(withID: eventID) }
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
