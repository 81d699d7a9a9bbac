import Foundation
import Testing
import Whizbang
import WhizbangStore

@Suite("SQLiteEventStore rows lent to a fold", .timeLimit(.minutes(5)))
struct SQLiteEventRowTests {
    /// The events of three streams, one with a long metadata and one at schema version 2.
    private func fill(_ store: SQLiteEventStore) async throws {
        _ = try await store.append(makeEvents(3), to: "account-1", expectedVersion: .noStream)
        _ = try await store.append(
            [
                EventData(
                    eventType: "Opened", schemaVersion: 2, data: Data(#"{"initialDeposit":7}"#.utf8),
                    metadata: Data(repeating: 0x7B, count: 600))
            ], to: "account-2", expectedVersion: .noStream)
        _ = try await store.append(makeEvents(2, type: "Withdrawn"), to: "account-1", expectedVersion: .any)
        _ = try await store.append(
            [EventData(eventType: "Deposited", data: Data([0x00, 0xFF, 0x01]), metadata: Data())], to: "transfer-9",
            expectedVersion: .noStream)
    }

    /// What a fold sees of each row: its copy, and the borrowed fields checked against it.
    private struct Seen: Sendable {
        var events: [RecordedEvent] = []
        var withoutMetadata: [RecordedEvent] = []
        var keys: [Int64] = []
        var mismatches: [String] = []
    }

    private static func see(_ seen: inout Seen, _ row: SQLiteEventRow) throws {
        let event = try row.recordedEvent()
        seen.events.append(event)
        seen.withoutMetadata.append(try row.recordedEvent(includingMetadata: false))
        seen.keys.append(row.streamKey)
        if Array(row.eventTypeUTF8) != Array(event.eventType.utf8) {
            seen.mismatches.append("type at \(event.position)")
        }
        if Data(row.data) != event.data { seen.mismatches.append("data at \(event.position)") }
        if Data(row.metadata) != event.metadata { seen.mismatches.append("metadata at \(event.position)") }
        let streamID = try row.streamID
        if row.position != event.position || row.streamVersion != event.streamVersion
            || row.schemaVersion != event.schemaVersion || row.eventID != event.eventID || streamID != event.streamID
        {
            seen.mismatches.append("fields at \(event.position)")
        }
    }

    @Test func lendsTheRowsReadAllReturns() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            try await fill(store)
            let readOnly = try await SQLiteReadOnlyEventStore.open(path: path)
            defer {
                readOnly.close()
                store.close()
            }
            for (after, limit) in [(0, 100), (2, 3), (6, 10), (7, 10)] as [(UInt64, Int)] {
                let expected = try await store.readAll(after: after, limit: limit)
                var withoutMetadata = expected
                for index in withoutMetadata.indices { withoutMetadata[index].metadata = Data() }
                let fromStore = try await store.reduceAll(after: after, limit: limit, into: Seen(), Self.see)
                let fromReadOnly = try await readOnly.reduceAll(after: after, limit: limit, into: Seen(), Self.see)
                for seen in [fromStore, fromReadOnly] {
                    #expect(seen.events == expected)
                    #expect(seen.withoutMetadata == withoutMetadata)
                    #expect(seen.mismatches.isEmpty, "\(seen.mismatches)")
                }
            }
            // One key per stream, the same for every event of it.
            let all = try await store.reduceAll(after: 0, limit: 100, into: Seen(), Self.see)
            var keys: [StreamID: Set<Int64>] = [:]
            for (event, key) in zip(all.events, all.keys) { keys[event.streamID, default: []].insert(key) }
            #expect(keys.count == 3)
            #expect(keys.values.allSatisfy { $0.count == 1 })
            #expect(Set(keys.values.compactMap(\.first)).count == 3)
            #expect(all.keys.allSatisfy { $0 > 0 })
        }
    }

    @Test func theFoldsErrorEndsTheReadAndComesBackAsThrown() async throws {
        struct Stop: Error, Equatable { let position: UInt64 }
        try await withStore { store, _ in
            try await fill(store)
            await #expect(throws: Stop(position: 3)) {
                _ = try await store.reduceAll(after: 0, limit: 100, into: 0) { count, row in
                    count += 1
                    if row.position == 3 { throw Stop(position: 3) }
                }
            }
            // The reader is usable again, from the start of the log.
            #expect(try await store.reduceAll(after: 0, limit: 100, into: 0) { count, _ in count += 1 } == 7)
        }
    }

    @Test func limits() async throws {
        try await withStore { store, _ in
            try await fill(store)
            #expect(try await store.reduceAll(after: 0, limit: 0, into: 41) { count, _ in count += 1 } == 41)
            #expect(try await store.reduceAll(after: 5, limit: 1, into: [UInt64]()) { $0.append($1.position) } == [6])
            await expectError(.invalidArgument) {
                _ = try await store.reduceAll(after: 0, limit: -1, into: 0) { count, _ in count += 1 }
            }
        }
    }
}
