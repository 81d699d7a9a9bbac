import Foundation
import ProcessTesting
import Testing
import Whizbang
import WhizbangStore

/// A read-only store's connections make a WAL and a shared-memory file beside a WAL-mode database that has none, and
/// SQLite does not remove them when a read-only connection closes: the store removes those it made, and only when no
/// connection has the database open and the WAL holds nothing.
@Suite("SQLiteReadOnlyEventStore leaves the database's directory as it found it", .timeLimit(.minutes(2)))
struct SQLiteReadOnlyCompanionTests {
    @Test("closing a read-only store removes the empty WAL and shared-memory files its open made")
    func closeRemovesTheFilesItMade() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let store = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            #expect(try await store.headPosition() == 3)
            try #require(try files(in: directory) == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
            store.close()
            store.close()
            #expect(try files(in: directory) == ["store.sqlite"])
        }
    }

    @Test("a read-only store leaves the files while another connection of this process has the database open")
    func closeLeavesFilesInUseInThisProcess() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let reader = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            let writer = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await writer.append(makeEvents(2), to: "t", expectedVersion: .noStream)
            reader.close()
            #expect(try files(in: directory) == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
            #expect(try await writer.headPosition() == 5)
            // The last connection to close is SQLite's own, which checkpoints the WAL and removes both files.
            writer.close()
            #expect(try files(in: directory) == ["store.sqlite"])
            let again = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            defer { again.close() }
            #expect(try await again.headPosition() == 5)
        }
    }

    @Test("a read-only store leaves the files, and the commits in them, while another process has the database open")
    func closeLeavesFilesInUseInAnotherProcess() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let reader = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            // Another process commits and keeps its connection open.
            let holder = try await Python.start(
                "import sqlite3, sys\n"
                    + "c = sqlite3.connect(sys.argv[1])\n"
                    + "c.execute('PRAGMA wal_autocheckpoint=0')\n"
                    + "c.execute(\"INSERT INTO checkpoints VALUES ('other', 7)\")\n"
                    + "c.commit()\n"
                    + "print('open', flush=True)\n" + Python.untilTerminated,
                [path])
            #expect(await holder.nextOutputLine() == "open")
            let wal = try Data(contentsOf: URL(fileURLWithPath: path + "-wal"))
            try #require(!wal.isEmpty)
            reader.close()
            #expect(try files(in: directory) == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")) == wal)
            holder.signal(SIGKILL)
            _ = try await holder.exitStatus()
            // Nothing holds the database now, but the WAL holds a commit: the files are not the reader's to remove.
            let second = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            #expect(try await second.checkpoint(for: "other") == 7)
            second.close()
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")) == wal)
        }
    }

    /// SQLite follows a link to the database and makes the files beside the file linked to, where the store did not
    /// look for them: it left them.
    @Test("a read-only store opened through a symbolic link removes the files its open made beside the file")
    func closeThroughALinkRemovesTheFilesItMade() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let link = directory.appendingPathComponent("link.sqlite").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "store.sqlite")
            let store = try await SQLiteReadOnlyEventStore.open(path: link, configuration: .testing)
            #expect(try await store.headPosition() == 3)
            try #require(try files(in: directory) == ["link.sqlite", "store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
            store.close()
            #expect(try files(in: directory) == ["link.sqlite", "store.sqlite"])
            #expect(FileManager.default.fileExists(atPath: path))
        }
    }

    /// The WAL stays empty here, so only the exclusive lock tells that another connection still uses the files.
    @Test("a read-only store leaves its empty files while another read-only store of this process has them open")
    func closeLeavesEmptyFilesInUseInThisProcess() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let first = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            let second = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            #expect(try await second.headPosition() == 3)
            try #require(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")).isEmpty)
            first.close()
            #expect(try files(in: directory) == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
            #expect(try await second.headPosition() == 3)
            second.close()
        }
    }

    /// As above, with the other connection in another process, which only reads.
    @Test("a read-only store leaves its empty files while another process has the database open")
    func closeLeavesEmptyFilesInUseInAnotherProcess() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let reader = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            let holder = try await Python.start(
                "import sqlite3, sys\n"
                    + "c = sqlite3.connect(sys.argv[1])\n"
                    + "c.execute('SELECT count(*) FROM events').fetchone()\n"
                    + "print('open', flush=True)\n" + Python.untilTerminated,
                [path])
            #expect(await holder.nextOutputLine() == "open")
            try #require(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")).isEmpty)
            reader.close()
            #expect(try files(in: directory) == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
            holder.signal(SIGKILL)
            _ = try await holder.exitStatus()
        }
    }

    /// An open that fails (a WAL-mode database that is not a store) has read the file, which made the two files.
    @Test("a read-only open that fails removes the empty files its read made")
    func aFailedOpenRemovesTheFilesItMade() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let made = try await Python.run(
                "import sqlite3, sys\n"
                    + "c = sqlite3.connect(sys.argv[1])\n"
                    + "c.execute('PRAGMA journal_mode=WAL')\n"
                    + "c.execute('CREATE TABLE other (x)')\n"
                    + "c.commit()\n"
                    + "c.close()\n",
                [path])
            try #require(made.status == 0, "\(made.standardError)")
            try #require(try files(in: directory) == ["store.sqlite"])
            await #expect(throws: EventStoreError.self) {
                _ = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            }
            #expect(try files(in: directory) == ["store.sqlite"])
        }
    }

    @Test("a read-only store leaves the WAL and shared-memory files that were there when it opened")
    func closeLeavesFilesItFound() async throws {
        try await withTemporaryDirectory { directory in
            let path = try await makeClosedStore(in: directory)
            let writer = try await SQLiteEventStore.open(path: path, configuration: .testing)
            #expect(try await writer.headPosition() == 3)
            let reader = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            #expect(try await reader.headPosition() == 3)
            // The writer is not the last connection, so its close leaves both files.
            writer.close()
            reader.close()
            #expect(try files(in: directory) == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"])
        }
    }
}

/// A store of three events at `store.sqlite` in `directory`, closed, so that no WAL or shared-memory file is beside it.
private func makeClosedStore(in directory: URL) async throws -> String {
    let path = directory.appendingPathComponent("store.sqlite").path
    let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
    _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
    store.close()
    try #require(try files(in: directory) == ["store.sqlite"])
    return path
}

private func files(in directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}
