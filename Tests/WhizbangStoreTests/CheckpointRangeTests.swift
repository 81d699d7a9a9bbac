import Foundation
import Testing
import Whizbang
import WhizbangStore

/// Checkpoint positions and snapshot versions above `Int64.max`, which no store's column holds, are refused with
/// `invalidArgument` by every store; before, SQLite stored `Int64.max` instead, without an error.
@Suite("Checkpoint and snapshot ranges", .timeLimit(.minutes(1)))
struct CheckpointRangeTests {
    /// A checkpoint is stored as given or refused: every store's column holds positions up to `Int64.max`, and
    /// above it both stores refuse with `invalidArgument` instead of storing another number.
    @Test(arguments: [UInt64(Int64.max) + 1, UInt64.max])
    func aCheckpointAboveTheLargestPositionIsRefused(position: UInt64) async throws {
        let memory = InMemoryEventStore()
        await #expect { try await memory.saveCheckpoint(position, for: "consumer") } throws: {
            ($0 as? EventStoreError)?.code == .invalidArgument
        }
        try await withStore { store, _ in
            await #expect { try await store.saveCheckpoint(position, for: "consumer") } throws: {
                ($0 as? EventStoreError)?.code == .invalidArgument
            }
            #expect(try await store.checkpoint(for: "consumer") == nil)
            try await store.saveCheckpoint(UInt64(Int64.max), for: "consumer")
            #expect(try await store.checkpoint(for: "consumer") == UInt64(Int64.max))
        }
    }

    /// The same for a restore's checkpoints: refused, and nothing is made at the path.
    @Test func aRestoredCheckpointAboveTheLargestPositionIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            await #expect {
                try await SQLiteEventStore.restore(
                    [], checkpoints: ["consumer": UInt64.max], to: path, configuration: .testing)
            } throws: {
                ($0 as? EventStoreError)?.code == .invalidArgument
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    /// A snapshot's stream version above `Int64.max` is refused as well.
    @Test func aSnapshotAboveTheLargestVersionIsRefused() async throws {
        let snapshot = Snapshot(streamID: "s", streamVersion: UInt64.max, stateType: "State", data: Data("{}".utf8))
        let memory = InMemoryEventStore()
        await #expect { try await memory.saveSnapshot(snapshot) } throws: {
            ($0 as? EventStoreError)?.code == .invalidArgument
        }
        try await withStore { store, _ in
            await #expect { try await store.saveSnapshot(snapshot) } throws: {
                ($0 as? EventStoreError)?.code == .invalidArgument
            }
            let latest = try await store.latestSnapshot(for: "s")
            #expect(latest == nil)
        }
    }
}
