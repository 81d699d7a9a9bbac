#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Whizbang

extension EventStoreContract {
    /// Reading streams and the global log: order, contiguity, limits, directions and edges.
    static let readingChecks: [EventStoreContractCheck] = [
        EventStoreContractCheck(name: "read.roundTrip") { store in
            let events = [
                EventData(eventType: "Opened", data: Data(#"{"owner":"Zoë 🦊"}"#.utf8), metadata: Data()),
                EventData(
                    eventType: "Deposited", schemaVersion: 3, data: Data(), metadata: Data(#"{"hops":[]}"#.utf8)),
                EventData(
                    eventType: "Ünïcode.Type/1", schemaVersion: Int(Int32.max), data: Data(#"{"amount":12.5}"#.utf8),
                    metadata: Data("{}".utf8)),
            ]
            let streamID: StreamID = "account/Zoë 🦊"
            let before = Date()
            try await requireAppend(store, events, to: streamID, expecting: .noStream, newVersion: 3)
            let after = Date()
            let stored = try await store.readStream(streamID, from: 1, direction: .forwards, limit: 10)
            try requireStored(stored, match: events, in: streamID, fromVersion: 1)
            try requireEqual(try await store.readAll(after: 0, limit: 10), stored, "the log holds the same events")
            for event in stored {
                // Stores may keep coarser time than Date; a minute either way only rules out a missing time.
                try require(
                    event.recordedAt > before.addingTimeInterval(-60)
                        && event.recordedAt < after.addingTimeInterval(60),
                    "recordedAt \(event.recordedAt) is the time of the append (\(before)...\(after))")
            }
        },
        EventStoreContractCheck(name: "read.contiguousVersionsAndPositions") { store in
            var expected: [StreamID: [EventData]] = [:]
            for round in 0..<4 {
                for streamID: StreamID in ["a", "b", "c"] {
                    let events = makeEvents(round % 2 + 1, label: "\(streamID)-\(round)")
                    let version = UInt64(expected[streamID, default: []].count)
                    try await requireAppend(
                        store, events, to: streamID, expecting: .exact(version),
                        newVersion: version + UInt64(events.count))
                    expected[streamID, default: []] += events
                }
            }
            for (streamID, events) in expected {
                let stored = try await store.readStream(streamID, from: 1, direction: .forwards, limit: 100)
                try requireStored(stored, match: events, in: streamID, fromVersion: 1)
                try require(
                    zip(stored, stored.dropFirst()).allSatisfy { $0.position < $1.position },
                    "positions within '\(streamID)' increase with versions")
            }
            let log = try await readWholeLog(store)
            try requireEqual(log.map(\.position), Array(1...18), "global positions")
            try requireEqual(try await store.headPosition(), 18, "the head position")
        },
        EventStoreContractCheck(name: "read.emptyStore") { store in
            try requireEqual(try await store.headPosition(), 0, "the head of an empty store")
            try requireEqual(try await store.readAll(after: 0, limit: 10), [], "the log of an empty store")
            try requireEqual(try await store.streamVersion(of: "s"), 0, "the version of a stream with no events")
            for direction in [ReadDirection.forwards, .backwards] {
                try requireEqual(
                    try await store.readStream("s", from: 1, direction: direction, limit: 10), [],
                    "reading a stream with no events \(direction)")
                try requireEqual(
                    try await store.readStream("s", from: .max, direction: direction, limit: 10), [],
                    "reading a stream with no events \(direction) from UInt64.max")
            }
        },
        EventStoreContractCheck(name: "read.forwardsWithLimit") { store in
            try await requireAppend(store, makeEvents(10), to: "s", expecting: .noStream, newVersion: 10)
            try await requireVersions(store, "s", from: 1, .forwards, limit: 3, [1, 2, 3])
            try await requireVersions(store, "s", from: 4, .forwards, limit: 3, [4, 5, 6])
            try await requireVersions(store, "s", from: 8, .forwards, limit: 5, [8, 9, 10])
            try await requireVersions(store, "s", from: 1, .forwards, limit: .max, Array(1...10))
            try await requireVersions(store, "s", from: 0, .forwards, limit: 2, [1, 2])
        },
        EventStoreContractCheck(name: "read.backwardsWithLimit") { store in
            try await requireAppend(store, makeEvents(10), to: "s", expecting: .noStream, newVersion: 10)
            try await requireVersions(store, "s", from: 10, .backwards, limit: 3, [10, 9, 8])
            try await requireVersions(store, "s", from: 5, .backwards, limit: 3, [5, 4, 3])
            try await requireVersions(store, "s", from: 2, .backwards, limit: 5, [2, 1])
            try await requireVersions(store, "s", from: .max, .backwards, limit: 2, [10, 9])
            try await requireVersions(store, "s", from: 11, .backwards, limit: .max, Array((1...10).reversed()))
            try await requireVersions(store, "s", from: 0, .backwards, limit: 5, [])
        },
        EventStoreContractCheck(name: "read.pastTheEnd") { store in
            try await requireAppend(store, makeEvents(3), to: "s", expecting: .noStream, newVersion: 3)
            try await requireVersions(store, "s", from: 4, .forwards, limit: 10, [])
            try await requireVersions(store, "s", from: .max, .forwards, limit: 10, [])
            try requireEqual(try await store.readAll(after: 3, limit: 10), [], "the log after its head")
            try requireEqual(try await store.readAll(after: .max, limit: 10), [], "the log after UInt64.max")
        },
        EventStoreContractCheck(name: "read.zeroLimit") { store in
            try await requireAppend(store, makeEvents(3), to: "s", expecting: .noStream, newVersion: 3)
            try await requireVersions(store, "s", from: 1, .forwards, limit: 0, [])
            try await requireVersions(store, "s", from: 3, .backwards, limit: 0, [])
            try requireEqual(try await store.readAll(after: 0, limit: 0), [], "the log with limit 0")
        },
        EventStoreContractCheck(name: "read.allAfterIsExclusive") { store in
            try await requireAppend(store, makeEvents(4), to: "a", expecting: .noStream, newVersion: 4)
            try await requireAppend(store, makeEvents(3), to: "b", expecting: .noStream, newVersion: 3)
            let positions = { (after: UInt64, limit: Int) in
                try await store.readAll(after: after, limit: limit).map(\.position)
            }
            try requireEqual(try await positions(0, 3), [1, 2, 3], "readAll(after: 0, limit: 3)")
            try requireEqual(try await positions(3, 3), [4, 5, 6], "readAll(after: 3, limit: 3)")
            try requireEqual(try await positions(6, 3), [7], "readAll(after: 6, limit: 3)")
            try requireEqual(try await positions(2, .max), [3, 4, 5, 6, 7], "readAll(after: 2, limit: .max)")
            let paged = try await readWholeLog(store, pageSize: 2)
            try requireEqual(paged.map(\.position), Array(1...7), "the log read in pages of 2")
            try requireEqual(paged.map(\.streamID), Array(repeating: "a", count: 4) + Array(repeating: "b", count: 3),
                "streams of the log in commit order")
        },
    ]
}

/// Reads a stream, expecting exactly `versions`.
private func requireVersions(
    _ store: any EventStore,
    _ streamID: StreamID,
    from version: UInt64,
    _ direction: ReadDirection,
    limit: Int,
    _ versions: [UInt64],
    file: String = #fileID,
    line: Int = #line
) async throws {
    let events = try await store.readStream(streamID, from: version, direction: direction, limit: limit)
    try requireEqual(
        events.map(\.streamVersion), versions,
        "readStream('\(streamID)', from: \(version), \(direction), limit: \(limit))",
        file: file, line: line)
}
