#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension EventStoreContract {
    /// The identity rule of `StreamID`: ids are the same stream exactly when their UTF-8 bytes are the same. No
    /// Unicode normalisation, no case folding, in appends, reads, versions, snapshots and checkpoint names alike.
    static let identityChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "identity.canonicallyEquivalentIDs") { store in
            // "café" with a precomposed é (U+00E9) and with e + combining acute accent (U+0065 U+0301): canonically
            // equivalent, so equal as Swift Strings, but different bytes and so different streams.
            try await requireDistinctStreams(store, ["caf\u{E9}", "cafe\u{301}"])
        },
        EventStoreContractCheck(name: "identity.mixedNormalisation") { store in
            // Two accented letters, each precomposed or decomposed: four spellings of one canonical text.
            try await requireDistinctStreams(
                store, ["r\u{E9}sum\u{E9}", "re\u{301}sume\u{301}", "r\u{E9}sume\u{301}", "re\u{301}sum\u{E9}"])
        },
        EventStoreContractCheck(name: "identity.caseDiffers") { store in
            try await requireDistinctStreams(store, ["Account-1", "account-1", "ACCOUNT-1"])
        },
        EventStoreContractCheck(name: "identity.resendInAnotherSpelling") { store in
            // A resend to an equivalent spelling is an append to another stream: its ids are stored already.
            let events = makeEvents(2)
            try await requireAppend(store, events, to: "caf\u{E9}", expecting: .noStream, newVersion: 2)
            let head = try await store.headPosition()
            try await requireError(.duplicateEventID, "a resend to the decomposed spelling") {
                try await store.append(events, to: "cafe\u{301}", expectedVersion: .noStream)
            }
            try await requireNothingWritten(store, head: head, streamID: "cafe\u{301}", version: 0)
            try await requireWrongExpectedVersion(
                store, makeEvents(1), to: "cafe\u{301}", expecting: .exact(2), actual: 0)
        },
        EventStoreContractCheck(name: "identity.snapshotsAndCheckpoints") { store in
            let composed: StreamID = "caf\u{E9}"
            let decomposed: StreamID = "cafe\u{301}"
            try await store.saveSnapshot(
                Snapshot(streamID: composed, streamVersion: 1, stateType: "Cafe", data: Data("composed".utf8)))
            try requireEqual(
                try await store.latestSnapshot(for: decomposed)?.data, nil, "the snapshot of the decomposed spelling")
            try await store.saveSnapshot(
                Snapshot(streamID: decomposed, streamVersion: 1, stateType: "Cafe", data: Data("decomposed".utf8)))
            try requireEqual(
                try await store.latestSnapshot(for: composed)?.data, Data("composed".utf8),
                "the snapshot of the composed spelling")
            let snapshot = try await store.latestSnapshot(for: decomposed)
            try requireEqual(snapshot?.data, Data("decomposed".utf8), "the snapshot of the decomposed spelling")
            try requireEqual(
                snapshot.map { Array($0.streamID.rawValue.utf8) }, Array(decomposed.rawValue.utf8),
                "the snapshot's stream id bytes")

            try await store.saveCheckpoint(7, for: "caf\u{E9}")
            try requireEqual(
                try await store.checkpoint(for: "cafe\u{301}"), nil, "the checkpoint of the decomposed consumer name")
            try await store.saveCheckpoint(3, for: "cafe\u{301}")
            try requireEqual(try await store.checkpoint(for: "caf\u{E9}"), 7, "the composed consumer's checkpoint")
            try requireEqual(try await store.checkpoint(for: "cafe\u{301}"), 3, "the decomposed consumer's checkpoint")
        },
    ]
}

/// Appends to each id in turn with ``ExpectedVersion/noStream`` (each must be a new stream), then checks that every
/// stream holds only its own events, with its id's exact bytes, in stream reads, versions and the global log.
private func requireDistinctStreams(_ store: any EventStore, _ ids: [StreamID]) async throws {
    var appended: [(StreamID, [EventData])] = []
    for (index, id) in ids.enumerated() {
        let events = makeEvents(index + 1, label: "spelling-\(index)")
        try await requireAppend(store, events, to: id, expecting: .noStream, newVersion: UInt64(events.count))
        appended.append((id, events))
    }
    for (id, events) in appended {
        let bytes = Array(id.rawValue.utf8)
        try requireEqual(
            try await store.streamVersion(of: id), UInt64(events.count), "the version of the stream \(bytes)")
        let stored = try await store.readStream(id, from: 1, direction: .forwards, limit: 100)
        try requireStored(stored, match: events, in: id, fromVersion: 1)
        for event in stored {
            try requireEqual(Array(event.streamID.rawValue.utf8), bytes, "the stream id bytes of a read event")
        }
    }
    let log = try await readWholeLog(store)
    try requireEqual(log.count, appended.reduce(0) { $0 + $1.1.count }, "events in the global log")
    for (id, events) in appended {
        let bytes = Array(id.rawValue.utf8)
        let ofStream = log.filter { Array($0.streamID.rawValue.utf8) == bytes }
        try requireEqual(ofStream.map(\.eventID), events.map(\.eventID), "the log's events of the stream \(bytes)")
    }
}
