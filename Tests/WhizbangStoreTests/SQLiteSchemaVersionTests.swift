import Foundation
import ProcessTesting
import Testing
import Whizbang
import WhizbangStore

/// Store schema version 3: each event's schema version in a column, added in place to a database of schema version 1
/// or 2, all or nothing.
// Serialized: each test holds a store's connections or a child process, and the suites of the package start together;
// one at a time keeps this suite's share of the process's open files small.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SQLiteSchemaVersionTests {
    private func columns(_ path: String) throws -> [String] {
        try executeRawSQL("SELECT name FROM pragma_table_info('events') ORDER BY cid", path: path).map { $0[0] }
    }

    @Test func aVersionTwoFileMigratesInPlaceAndEveryEventGetsOne() async throws {
        try await withFixtureCopy(LibraryFixture.name) { path in
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["2"]])
            #expect(try !columns(path).contains("schema_version"))

            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { store.close() }
            #expect(try executeRawSQL("SELECT version FROM schema_version ORDER BY version", path: path) == [
                ["1"], ["2"], ["3"], ["4"],
            ])
            #expect(try columns(path).last == "schema_version")
            #expect(
                try executeRawSQL("SELECT count(*), min(schema_version), max(schema_version) FROM events", path: path)
                    == [["6", "1", "1"]])
            let stored = try await store.readAll(after: 0, limit: 100)
            #expect(stored.map(\.schemaVersion) == [1, 1, 1, 1, 1, 1])
            #expect(stored.map(\.position) == [1, 2, 3, 4, 5, 6])

            let appended = EventData(eventType: "MemberRegistered", schemaVersion: 3, data: Data("{}".utf8))
            _ = try await store.append([appended], to: "member-alan", expectedVersion: .noStream)
            #expect(try await store.readAll(after: 6, limit: 10).map(\.schemaVersion) == [3])
            #expect(
                try executeRawSQL("SELECT schema_version FROM events WHERE position = 7", path: path) == [["3"]])
        }
    }

    @Test func aVersionOneFileMigratesThroughTwoAndThree() async throws {
        try await withFixtureCopy(LibraryFixture.name) { path in
            // Schema version 1 had the same tables; its streams' versions were current, as a restore writes them.
            _ = try executeRawSQL("DELETE FROM schema_version WHERE version = 2", path: path)
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { store.close() }
            #expect(try executeRawSQL("SELECT version FROM schema_version ORDER BY version", path: path) == [
                ["1"], ["2"], ["3"], ["4"],
            ])
            #expect(try await store.readStream("member-ada", from: 1, direction: .forwards, limit: 10).map(\.schemaVersion) == [1, 1, 1, 1, 1])
            #expect(try await store.streamVersion(of: "member-ada") == 5)
        }
    }

    /// Someone else's table named as a later version's, in a file at an older version: the store refuses to migrate
    /// it, naming the table, and the file is as it was. Before, the migration failed on it with SQLite's bare "table
    /// read_models already exists", which the sample reported as a file it could not open.
    @Test func aMigrationOverATableNamedAsALaterVersionsIsRefused() async throws {
        try await withFixtureCopy(LibraryFixture.name) { path in
            _ = try executeRawSQL("CREATE TABLE read_models (x); INSERT INTO read_models VALUES (42)", path: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = await #expect(throws: EventStoreError.self) {
                _ = try await SQLiteEventStore.open(path: path, configuration: .testing)
            }
            #expect(error?.code == .invalidArgument, "\(String(describing: error))")
            #expect(error?.message.contains("table read_models") == true, "\(String(describing: error))")
            #expect(error?.message.contains("nothing was changed") == true, "\(String(describing: error))")
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["2"]])
            #expect(try executeRawSQL("SELECT x FROM read_models", path: path) == [["42"]])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
    }

    /// Migrations 2 and 3 run in one transaction: when 3 fails, 2 is undone with it and the file is as it was.
    @Test func aMigrationThatFailsChangesNothing() async throws {
        try await withFixtureCopy(LibraryFixture.name) { path in
            _ = try executeRawSQL(
                """
                DELETE FROM schema_version WHERE version = 2;
                ALTER TABLE events ADD COLUMN schema_version TEXT;
                """,
                path: path)
            let before = try columns(path)
            await #expect(throws: EventStoreError.self) {
                _ = try await SQLiteEventStore.open(path: path, configuration: .testing)
            }
            #expect(try executeRawSQL("SELECT version FROM schema_version", path: path) == [["1"]])
            #expect(try columns(path) == before)
            #expect(try executeRawSQL("SELECT count(*) FROM events", path: path) == [["6"]])
        }
    }

    @Test func aReadOnlyStoreReadsAVersionTwoFileAsItIsAtVersionOne() async throws {
        try await withFixtureCopy(LibraryFixture.name) { path in
            let store = try await SQLiteReadOnlyEventStore.open(path: path)
            defer { store.close() }
            let stored = try await store.readAll(after: 0, limit: 100)
            #expect(stored.count == 6)
            #expect(stored.allSatisfy { $0.schemaVersion == 1 })
            let ada = try await store.readStream("member-ada", from: UInt64.max, direction: .backwards, limit: 2)
            #expect(ada.map(\.schemaVersion) == [1, 1])
            #expect(try executeRawSQL("SELECT max(version) FROM schema_version", path: path) == [["2"]])
        }
    }

    @Test func aRestoreKeepsEachEventsSchemaVersion() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("restored.sqlite").path
            let events = (1...3).map { index in
                RecordedEvent(
                    streamID: "s", streamVersion: UInt64(index), position: UInt64(index), eventID: MessageID(),
                    eventType: "Happened", schemaVersion: index * 2, data: Data("{}".utf8), metadata: Data(),
                    recordedAt: Date(timeIntervalSince1970: 1_700_000_000))
            }
            _ = try await SQLiteEventStore.restore(events, to: path, configuration: .testing)
            let store = try await SQLiteReadOnlyEventStore.open(path: path)
            defer { store.close() }
            #expect(try await store.readAll(after: 0, limit: 10).map(\.schemaVersion) == [2, 4, 6])
        }
    }
}
