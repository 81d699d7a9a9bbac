import Foundation
import ProcessTesting
import Testing
import Whizbang
import WhizbangStore

/// A stream's version is that of its last event: appends write no `streams` row after the first, and a database of
/// schema version 1, whose rows were kept current, reads and appends as before.
@Suite("SQLite stream versions", .timeLimit(.minutes(2)))
struct SQLiteStreamVersionTests {
    @Test func appendsToAKnownStreamLeaveItsRowAlone() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
            for version in 1..<6 {
                _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .exact(UInt64(version)))
            }
            _ = try await store.append(makeEvents(3), to: "account-1", expectedVersion: .exact(6))
            #expect(try await store.streamVersion(of: "account-1") == 9)
            store.close()
            // The row still holds the version the stream was created at.
            #expect(try executeRawSQL("SELECT version FROM streams", path: path) == [["1"]])

            // A new store, with an empty stream cache, finds the version from the events.
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.streamVersion(of: "account-1") == 9)
            await expectError(.wrongExpectedVersion) {
                _ = try await reopened.append(makeEvents(1), to: "account-1", expectedVersion: .exact(8))
            }
            let result = try await reopened.append(makeEvents(1), to: "account-1", expectedVersion: .exact(9))
            #expect(result.streamVersion == 10)
            let last = try await reopened.readStream("account-1", from: .max, direction: .backwards, limit: 1)
            #expect(last.map(\.streamVersion) == [10])
            #expect(try await reopened.streamVersion(of: "account-2") == 0)
        }
    }

    @Test func aVersionOneDatabaseKeepsReadingAndAppending() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            for stream in 0..<3 {
                _ = try await store.append(makeEvents(2 + stream), to: StreamID("s-\(stream)"), expectedVersion: .noStream)
            }
            store.close()
            // What schema version 1 left: every row's version current, no migration 2, no migration 3 (which
            // added `events.schema_version`) and no migration 4 (the read model tables).
            _ = try executeRawSQL(
                """
                UPDATE streams SET version = (SELECT max(version) FROM events e WHERE e.stream_key = streams.stream_key);
                DELETE FROM schema_version WHERE version >= 2;
                ALTER TABLE events DROP COLUMN schema_version;
                DROP TABLE read_model_rows;
                DROP TABLE read_models;
                """,
                path: path)
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["1"]])

            let readOnly = try await SQLiteReadOnlyEventStore.open(path: path)
            #expect(try await readOnly.streamVersion(of: "s-2") == 4)
            readOnly.close()

            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["4"]])
            for stream in 0..<3 {
                let version = UInt64(2 + stream)
                #expect(try await reopened.streamVersion(of: StreamID("s-\(stream)")) == version)
                let result = try await reopened.append(
                    makeEvents(1), to: StreamID("s-\(stream)"), expectedVersion: .exact(version))
                #expect(result.streamVersion == version + 1)
            }
            #expect(try await reopened.readAll(after: 0, limit: 100).count == 12)
        }
    }
}
