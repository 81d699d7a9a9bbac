import Foundation
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

    private func expectCorrupt(_ body: () async throws -> Void) async {
        await #expect {
            try await body()
        } throws: {
            ($0 as? EventStoreError)?.code == .corruptDatabase
        }
    }
}
