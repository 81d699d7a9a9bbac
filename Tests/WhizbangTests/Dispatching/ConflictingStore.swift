import Foundation
import Synchronization
import Whizbang

/// An event store in which, for `conflicts` appends after the first `skipping`, "another writer" appends a deposit
/// of 1,000 to the same stream just before the append reaches the store, so that the append conflicts.
final class ConflictingStore: DelegatingEventStore {
    let inner = InMemoryEventStore()
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
            _ = try await inner.append([foreign], to: streamID, expectedVersion: .any)
        }
        return try await inner.append(events, to: streamID, expectedVersion: expectedVersion)
    }
}
