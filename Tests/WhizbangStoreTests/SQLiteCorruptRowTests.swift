import Foundation
import ProcessTesting
import Testing
import Whizbang
import WhizbangStore

/// Event rows that no store writes, made by hand: before, they were read as values no caller could tell from real
/// ones (an event id that is not 16 bytes as the nil UUID, a negative version as 0), so an export wrote a file its
/// own import refused and `verify` passed.
@Suite("SQLiteEventStore event rows changed outside the store", .timeLimit(.minutes(2)))
struct SQLiteCorruptRowTests {
    @Test(
        "a malformed event id or a version below 1 is refused as corruptDatabase by every read that returns events",
        arguments: [
            "UPDATE events SET event_id = x'00' WHERE position = 1",
            "UPDATE events SET event_id = 'not an id' WHERE position = 1",
            "UPDATE events SET version = -1 WHERE position = 1",
            "UPDATE events SET version = 0 WHERE position = 1",
        ])
    func aCorruptRowIsRefused(change: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            let second = try await store.readAll(after: 1, limit: 1)
            store.close()
            _ = try executeRawSQL(change, path: path)
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            await expectCorrupt { _ = try await reopened.readAll(after: 0, limit: 10) }
            // A stream's read selects versions from 1: a version changed below that is not among them.
            if change.contains("event_id") {
                await expectCorrupt { _ = try await reopened.readStream("s", from: 1, direction: .forwards, limit: 10) }
            }
            await expectCorrupt {
                _ = try await reopened.reduceAll(after: 0, limit: 10, into: 0) { _, row in
                    _ = try row.recordedEvent()
                }
            }
            // The row after it reads as it is.
            #expect(try await reopened.readAll(after: 1, limit: 1) == second)
        }
    }

    /// An index that lacks a row of its table is met by no read through the table; a read-only store (which `verify`
    /// opens) had no way to ask SQLite's own check, only the writing store had.
    @Test("a read-only store's integrity check finds an index entry damaged outside the store, and writes nothing")
    func integrityCheckFindsADamagedIndex() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(20), to: "s", expectedVersion: .noStream)
            store.close()
            let sound = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            #expect(try await sound.integrityCheck() == [])
            sound.close()
            try damageIndexRoot("events_by_id", path: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let damaged = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            // Reads through the table still answer.
            #expect(try await damaged.readAll(after: 0, limit: 100).count == 20)
            let problems = try await damaged.integrityCheck()
            damaged.close()
            #expect(problems.contains { $0.contains("events_by_id") }, "\(problems)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
    }

    private func expectCorrupt(_ body: () async throws -> Void) async {
        await #expect {
            try await body()
        } throws: {
            ($0 as? EventStoreError)?.code == .corruptDatabase
        }
    }
}
