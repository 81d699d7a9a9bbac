import Foundation
import ProcessTesting
import Testing
import Whizbang
@testable import WhizbangStore

/// `destroyStore(at:)` removed a store file once its marks proved the store had created it, with whatever a user had
/// added inside it since: their tables, views, triggers, indexes and columns went with the file.
@Suite("SQLiteEventStore.destroyStore refuses a store holding what the store did not create", .timeLimit(.minutes(2)))
struct SQLiteDestroyStoreOthersTests {
    typealias Foreign = SQLiteRestoreReplacingTests.Foreign

    /// A store at `path`, closed, with a few events.
    private func makeStore(_ path: String) async throws {
        let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
        _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
        store.close()
    }

    /// Every file in `directory`, by name, with its bytes.
    private func snapshot(_ directory: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            files[name] = try Data(contentsOf: directory.appendingPathComponent(name))
        }
        return files
    }

    @Test("refuses a store that holds what the store did not create, naming it, and changes no file",
        arguments: Foreign.allCases)
    func refusesAStoreHoldingOthersObjects(foreign: Foreign) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try await makeStore(path)
            _ = try executeRawSQL(foreign.sql, path: path)
            try #require(SQLiteEventStore.inspectFile(at: path).isWhizbangStore)
            let before = try snapshot(directory)

            let error = await expectError(.invalidArgument) { try SQLiteEventStore.destroyStore(at: path) }
            #expect(error?.message.contains("(\(foreign.words))") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("nothing was removed") == true, "\(error?.message ?? "")")
            #expect(try snapshot(directory) == before)
        }
    }

    /// The inspection saw the store alone; what was added before the hold is found under it.
    @Test("refuses a store that was given a table after the inspection, and changes no file")
    func refusesATableAddedAfterTheInspection() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try await makeStore(path)
            var added: [String: Data]?
            let error = await expectError(.invalidArgument) {
                try SQLiteEventStore.destroyStore(at: path) {
                    _ = try? executeRawSQL("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');", path: path)
                    added = try? snapshot(directory)
                }
            }
            #expect(error?.message.contains("(table notes)") == true, "\(error?.message ?? "")")
            let snapshotAfterAdding = try #require(added)
            #expect(try snapshot(directory) == snapshotAfterAdding)
            #expect(try executeRawSQL("SELECT body FROM notes", path: path) == [["x"]])
        }
    }

    /// A user's table committed by a program that was stopped before it checkpointed is in the WAL alone (without a
    /// shared-memory file the inspection reads the file without it): found under the hold, and the WAL, the file and
    /// the absence of a shared-memory file are left as they were.
    @Test("refuses a store whose user table is still in its WAL, and leaves the WAL and the file as they were")
    func refusesATableInTheWAL() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try await makeStore(path)
            let made = try await Python.run(
                "import sqlite3, sys, os\n"
                    + "c = sqlite3.connect(sys.argv[1])\n"
                    + "c.execute('PRAGMA wal_autocheckpoint=0')\n"
                    + "c.execute('CREATE TABLE notes (body TEXT)')\n"
                    + "c.execute(\"INSERT INTO notes VALUES ('x')\")\n"
                    + "c.commit()\n"
                    + "os.remove(sys.argv[1] + '-shm')\n"
                    + "os._exit(0)\n",
                [path])
            try #require(made.status == 0, "\(made.standardError)")
            let before = try snapshot(directory)
            try #require(before.keys.sorted() == ["store.sqlite", "store.sqlite-wal"])

            let error = await expectError(.invalidArgument) { try SQLiteEventStore.destroyStore(at: path) }
            #expect(error?.message.contains("(table notes)") == true, "\(error?.message ?? "")")
            #expect(try snapshot(directory) == before)
        }
    }

    /// The objects of a newer schema version are not known to this code, so none of them can be told from a user's.
    @Test("refuses a store of a newer schema version, and changes no file")
    func refusesANewerStore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try await makeStore(path)
            _ = try executeRawSQL("INSERT INTO schema_version VALUES (99, 0);", path: path)
            let before = try snapshot(directory)

            let error = await expectError(.invalidArgument) { try SQLiteEventStore.destroyStore(at: path) }
            #expect(error?.message.contains("schema version 99") == true, "\(error?.message ?? "")")
            #expect(try snapshot(directory) == before)
        }
    }

    /// The store's own objects are no reason to refuse: SQLite's (`sqlite_stat1` after `ANALYZE`), and those of an
    /// older schema version (the fixture is a store at schema version 2).
    @Test("removes a store that SQLite analyzed, and a store of an older schema version")
    func removesAStoreWithOnlyItsOwnObjects() async throws {
        try await withTemporaryDirectory { directory in
            let analyzed = directory.appendingPathComponent("analyzed.sqlite").path
            try await makeStore(analyzed)
            _ = try executeRawSQL("ANALYZE;", path: analyzed)
            let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures/library-v1.sqlite")
            let older = directory.appendingPathComponent("older.sqlite").path
            try FileManager.default.copyItem(atPath: fixture.path, toPath: older)
            try #require(SQLiteEventStore.inspectFile(at: older).isWhizbangStore)

            try SQLiteEventStore.destroyStore(at: analyzed)
            try SQLiteEventStore.destroyStore(at: older)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        }
    }

    /// A leftover of a killed restore is removed with `destroyStore`: one that a user gave a table is not, keeps its
    /// table, and is reported with the reason.
    @Test("removeAbandonedRestores leaves a leftover that holds a user's table")
    func abandonedRestoreWithAUsersTableIsKept() async throws {
        try await withTemporaryDirectory { directory in
            let target = directory.appendingPathComponent("ledger.sqlite").path
            let name = ".ledger.sqlite.restoring-0123abcd"
            let leftover = directory.appendingPathComponent(name).path
            try await makeStore(leftover)
            _ = try executeRawSQL(
                "INSERT INTO whizbang_store (key, value) VALUES ('restored_as', '\(name)');"
                    + "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');",
                path: leftover)
            let before = try snapshot(directory)

            #expect(SQLiteEventStore.removeAbandonedRestores(for: target).isEmpty)
            #expect(try snapshot(directory) == before)
            // Told why, and not only that it stayed.
            var leftAlone: [(String, EventStoreError)] = []
            #expect(SQLiteEventStore.removeAbandonedRestores(for: target) { leftAlone.append(($0, $1)) }.isEmpty)
            #expect(leftAlone.map(\.0) == [leftover])
            #expect(leftAlone.first?.1.code == .invalidArgument)
            #expect(leftAlone.first?.1.message.contains("(table notes)") == true, "\(leftAlone)")
            #expect(try snapshot(directory) == before)
            #expect(try executeRawSQL("SELECT body FROM notes", path: leftover) == [["x"]])
        }
    }
}
