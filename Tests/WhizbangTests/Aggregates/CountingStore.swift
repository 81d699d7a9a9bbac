import Synchronization
import Whizbang

/// An event store that delegates to an in-memory one and counts the stream reads it is asked for; past
/// `maximumReads` it throws, so that a caller that would read for ever is stopped and seen.
final class CountingStore: EventStore {
    struct TooManyReads: Error, Equatable {
        var limitsAsked: [Int]
    }

    let inner = InMemoryEventStore()
    let maximumReads: Int
    private let limits = Mutex<[Int]>([])

    init(maximumReads: Int = 100) {
        self.maximumReads = maximumReads
    }

    var readLimits: [Int] { limits.withLock { $0 } }

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
    }

    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int) async throws
        -> [RecordedEvent]
    {
        let asked = limits.withLock { limits -> [Int]? in
            limits.append(limit)
            return limits.count > maximumReads ? limits : nil
        }
        if let asked { throw TooManyReads(limitsAsked: Array(asked.prefix(5))) }
        return try await inner.readStream(streamID, from: version, direction: direction, limit: limit)
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
