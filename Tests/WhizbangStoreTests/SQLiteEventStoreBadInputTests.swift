import Foundation
import ProcessTesting
import Testing
import WhizbangStore

@Suite("SQLiteEventStore bad input", .timeLimit(.minutes(5)))
struct SQLiteEventStoreBadInputTests {
    @Test func aFileThatIsNotSQLiteIsRefusedAndLeftAlone() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("notes.txt").path
            let contents = Data(String(repeating: "these are not the events you are looking for\n", count: 200).utf8)
            try contents.write(to: URL(fileURLWithPath: path))
            await expectError(.notADatabase) { _ = try await SQLiteEventStore.open(path: path) }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == contents)
        }
    }

    @Test func aCorruptFileIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(50), to: "s", expectedVersion: .noStream)
            store.close()
            // Overwrite the schema table's page, after the 100-byte file header.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seek(toOffset: 100)
            try handle.write(contentsOf: Data(repeating: 0xA5, count: 4000))
            try handle.close()
            await expectError(.corruptDatabase) {
                let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
                defer { store.close() }
                _ = try await store.readAll(after: 0, limit: 100)
            }
        }
    }

    @Test func aDatabaseFromAFutureSchemaIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
            store.close()
            _ = try executeRawSQL("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)", path: path)
            await expectError(.incompatibleSchema) { _ = try await SQLiteEventStore.open(path: path) }
            // Nothing was lost: back at the current schema, the store opens with its events.
            _ = try executeRawSQL("DELETE FROM schema_version WHERE version = 99", path: path)
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.headPosition() == 3)
        }
    }

    /// Before, a schema version below 1 passed the check and the migration indexed its list with it: a trap.
    @Test func aSchemaVersionBelowOneIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            store.close()
            for version in [-1, 0] {
                _ = try executeRawSQL("DELETE FROM schema_version", path: path)
                _ = try executeRawSQL(
                    "INSERT INTO schema_version (version, applied_at) VALUES (\(version), 0)", path: path)
                await expectError(.incompatibleSchema) { _ = try await SQLiteEventStore.open(path: path) }
            }
        }
    }

    /// Before, a position below 1 trapped at opening (the head is unsigned), and the largest one made SQLite pick the
    /// next positions at random while the store reported them as a range.
    @Test func positionsTheStoreCannotHaveWrittenAreRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
            store.close()
            for (from, to) in [(1, "-5"), (3, "9223372036854775807")] {
                _ = try executeRawSQL("UPDATE events SET position = \(to) WHERE position = \(from)", path: path)
                await expectError(.corruptDatabase) {
                    _ = try await SQLiteEventStore.open(path: path, configuration: .testing)
                }
                _ = try executeRawSQL("UPDATE events SET position = \(from) WHERE position = \(to)", path: path)
            }
            let reopened = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { reopened.close() }
            #expect(try await reopened.readAll(after: 0, limit: 10).map(\.position) == [1, 2, 3])
        }
    }

    /// Before, a busy timeout or a checkpoint threshold meant as "never" overflowed a multiplication at opening.
    @Test func limitsMeantAsNeverOpen() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.busyTimeout = .seconds(Int64.max)
        configuration.checkpointPages = .max
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            defer { store.close() }
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            #expect(try await store.headPosition() == 1)
        }
    }

    @Test func anotherApplicationsDatabaseIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("other.sqlite").path
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            _ = try executeRawSQL("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)", path: path)
            await expectError(.incompatibleSchema) { _ = try await SQLiteEventStore.open(path: path) }
        }
    }

    @Test func invalidStreamIDsAndPayloadsAreRefusedBeforeWriting() async throws {
        var configuration = SQLiteEventStore.Configuration.testing
        configuration.maximumPayloadBytes = 1000
        try await withStore(configuration: configuration) { store, _ in
            await expectError(.invalidStreamID) { _ = try await store.append(makeEvents(1), to: "", expectedVersion: .any) }
            let long = StreamID(String(repeating: "x", count: StreamID.maximumLength + 1))
            await expectError(.invalidStreamID) { _ = try await store.append(makeEvents(1), to: long, expectedVersion: .any) }
            let big = EventData(eventType: "Big", data: Data(repeating: 1, count: 1001))
            await expectError(.payloadTooLarge) { _ = try await store.append([big], to: "s", expectedVersion: .any) }
            let bigMetadata = EventData(eventType: "Big", data: Data(), metadata: Data(repeating: 1, count: 1001))
            await expectError(.payloadTooLarge) {
                _ = try await store.append([bigMetadata], to: "s", expectedVersion: .any)
            }
            await expectError(.payloadTooLarge) {
                try await store.saveSnapshot(
                    Snapshot(streamID: "s", streamVersion: 1, stateType: "S", data: Data(count: 1001)))
            }
            let limit = EventData(eventType: "AtTheLimit", data: Data(repeating: 0x61, count: 1000))
            _ = try await store.append([limit], to: "s", expectedVersion: .noStream)
            #expect(try await store.headPosition() == 1)
        }
    }

    @Test func aConfigurationOutOfRangeIsRefused() async throws {
        var badPageSize = SQLiteEventStore.Configuration.testing
        badPageSize.pageSize = 3000
        // SQLite stores at most 1,000,000,000 bytes in one row; a larger limit would let a payload be dropped.
        var payloadBeyondSQLite = SQLiteEventStore.Configuration.testing
        payloadBeyondSQLite.maximumPayloadBytes = 600_000_000
        for configuration in [badPageSize, payloadBeyondSQLite] {
            try await withTemporaryDirectory { directory in
                let path = directory.appendingPathComponent("events.sqlite").path
                await expectError(.invalidArgument) {
                    _ = try await SQLiteEventStore.open(path: path, configuration: configuration)
                }
            }
        }
    }

    @Test func aMissingDirectoryIsAStorageFailure() async throws {
        await expectError(.storageFailure) {
            _ = try await SQLiteEventStore.open(path: "/nonexistent-\(UUID().uuidString)/events.sqlite")
        }
    }

    @Test func theTablesAreLegible() async throws {
        try await withStore { store, path in
            _ = try await store.append(makeEvents(1, type: "Deposited"), to: "account-1", expectedVersion: .noStream)
            store.close()
            let rows = try executeRawSQL(
                """
                SELECT s.stream_id, e.version, e.event_type, typeof(e.data), e.data, e.metadata, length(e.event_id)
                FROM events e JOIN streams s USING (stream_key)
                """,
                path: path)
            #expect(rows == [["account-1", "1", "Deposited", "text", #"{"amount":0}"#, #"{"hop":1}"#, "16"]])
            #expect(try executeRawSQL("PRAGMA journal_mode", path: path) == [["wal"]])
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["4"]])
        }
    }
}
