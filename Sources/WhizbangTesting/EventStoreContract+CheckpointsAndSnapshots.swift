#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension EventStoreContract {
    /// Named checkpoints and per-stream snapshots.
    static let checkpointAndSnapshotChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "checkpoint.missingIsNil") { store in
            try requireEqual(try await store.checkpoint(for: "projector"), nil, "a checkpoint never saved")
        },
        EventStoreContractCheck(name: "checkpoint.saveReplaces") { store in
            try await store.saveCheckpoint(7, for: "projector")
            try requireEqual(try await store.checkpoint(for: "projector"), 7, "the saved checkpoint")
            try await store.saveCheckpoint(12, for: "projector")
            try requireEqual(try await store.checkpoint(for: "projector"), 12, "the replaced checkpoint")
            try await store.saveCheckpoint(3, for: "projector")
            try requireEqual(try await store.checkpoint(for: "projector"), 3, "a checkpoint saved lower (a rebuild)")
            try await store.saveCheckpoint(0, for: "projector")
            try requireEqual(try await store.checkpoint(for: "projector"), 0, "a checkpoint saved at 0")
        },
        EventStoreContractCheck(name: "checkpoint.perConsumer") { store in
            try await store.saveCheckpoint(5, for: "a")
            try await store.saveCheckpoint(9, for: "b")
            try requireEqual(try await store.checkpoint(for: "a"), 5, "consumer a's checkpoint")
            try requireEqual(try await store.checkpoint(for: "b"), 9, "consumer b's checkpoint")
            try requireEqual(try await store.checkpoint(for: "A"), nil, "names are case-sensitive")
        },
        EventStoreContractCheck(name: "snapshot.missingIsNil") { store in
            try requireEqual(try await store.latestSnapshot(for: "s"), nil, "a stream without snapshots")
        },
        EventStoreContractCheck(name: "snapshot.saveAndLoad") { store in
            try await requireAppend(store, makeEvents(3), to: "s", expecting: .noStream, newVersion: 3)
            let snapshot = Snapshot(streamID: "s", streamVersion: 3, stateType: "Account", data: Data(#"{"b":1}"#.utf8))
            try await store.saveSnapshot(snapshot)
            try requireEqual(try await store.latestSnapshot(for: "s"), snapshot, "the saved snapshot")
        },
        EventStoreContractCheck(name: "snapshot.latestIsHighestVersion") { store in
            try await requireAppend(store, makeEvents(8), to: "s", expecting: .noStream, newVersion: 8)
            let at = { (version: UInt64) in
                Snapshot(
                    streamID: "s", streamVersion: version, stateType: "Account", data: Data("{\"v\":\(version)}".utf8))
            }
            try await store.saveSnapshot(at(5))
            try await store.saveSnapshot(at(3))
            try requireEqual(try await store.latestSnapshot(for: "s"), at(5), "latest after saving 5 then 3")
            try await store.saveSnapshot(at(8))
            try requireEqual(try await store.latestSnapshot(for: "s"), at(8), "latest after saving 8")
            var replacement = at(8)
            replacement.data = Data(#"{"v":"8 again"}"#.utf8)
            try await store.saveSnapshot(replacement)
            try requireEqual(
                try await store.latestSnapshot(for: "s"), replacement, "a later snapshot at the same version")
        },
        EventStoreContractCheck(name: "snapshot.perStream") { store in
            try await requireAppend(store, makeEvents(2), to: "a", expecting: .noStream, newVersion: 2)
            try await requireAppend(store, makeEvents(1), to: "b", expecting: .noStream, newVersion: 1)
            let a = Snapshot(streamID: "a", streamVersion: 2, stateType: "A", data: Data("{}".utf8))
            let b = Snapshot(streamID: "b", streamVersion: 1, stateType: "B", data: Data("[]".utf8))
            try await store.saveSnapshot(a)
            try await store.saveSnapshot(b)
            try requireEqual(try await store.latestSnapshot(for: "a"), a, "stream a's snapshot")
            try requireEqual(try await store.latestSnapshot(for: "b"), b, "stream b's snapshot")
            try requireEqual(try await store.latestSnapshot(for: "c"), nil, "stream c's snapshot")
        },
    ]
}
