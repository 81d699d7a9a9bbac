import Foundation
import Synchronization
import Whizbang

/// An event store in which, for `conflicts` appends after the first `skipping`, "another writer" appends a deposit
/// of 1,000 to the same stream just before the append reaches the store, so that the append conflicts.
final class ConflictingStore: EventStore {
    let base = InMemoryEventStore()
    private let schedule: Mutex<(skip: Int, conflicts: Int)>

    init(skipping: Int = 0, conflicts: Int) {
        schedule = Mutex((skipping, conflicts))
    }

    func append(_ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion) async throws
        -> AppendResult
    {
        let interfere = schedule.withLock { schedule -> Bool in
            if schedule.skip > 0 {
                schedule.skip -= 1
                return false
            }
            guard schedule.conflicts > 0 else { return false }
            schedule.conflicts -= 1
            return true
        }
        if interfere {
            let foreign = try BankAccount.events.eventData(for: .deposited(.init(amount: 1_000)))
            _ = try await base.append([foreign], to: streamID, expectedVersion: .any)
        }
        return try await base.append(events, to: streamID, expectedVersion: expectedVersion)
    }

    func readStream(_ streamID: StreamID, from version: UInt64, direction: ReadDirection, limit: Int) async throws
        -> [RecordedEvent]
    {
        try await base.readStream(streamID, from: version, direction: direction, limit: limit)
    }

    func readAll(after position: UInt64, limit: Int) async throws -> [RecordedEvent] {
        try await base.readAll(after: position, limit: limit)
    }

    func headPosition() async throws -> UInt64 { try await base.headPosition() }
    func streamVersion(of streamID: StreamID) async throws -> UInt64 { try await base.streamVersion(of: streamID) }
    func waitForEvents(after position: UInt64) async throws { try await base.waitForEvents(after: position) }
    func checkpoint(for consumer: String) async throws -> UInt64? { try await base.checkpoint(for: consumer) }
    func saveCheckpoint(_ position: UInt64, for consumer: String) async throws {
        try await base.saveCheckpoint(position, for: consumer)
    }
    func saveSnapshot(_ snapshot: Snapshot) async throws { try await base.saveSnapshot(snapshot) }
    func latestSnapshot(for streamID: StreamID) async throws -> Snapshot? {
        try await base.latestSnapshot(for: streamID)
    }
}
