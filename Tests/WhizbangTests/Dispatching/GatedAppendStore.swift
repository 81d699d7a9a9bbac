import Whizbang

/// An event store that delegates to an in-memory one, but holds each append until ``releaseAppends`` opens, as a
/// durable store's queued append does: the caller's cancellation does not stop it.
final class GatedAppendStore: EventStore {
    let inner = InMemoryEventStore()
    /// Opened when the first append arrives.
    let appendArrived = TestGate()
    /// Appends wait for this gate, ignoring cancellation.
    let releaseAppends = TestGate()

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        appendArrived.open()
        await releaseAppends.wait()
        return try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
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
