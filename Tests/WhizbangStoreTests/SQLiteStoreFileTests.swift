import Foundation
import ProcessTesting
import Testing
import Whizbang
@testable import WhizbangStore

@Suite("SQLiteEventStore.inspectFile and destroyStore", .timeLimit(.minutes(2)))
struct SQLiteStoreFileTests {
    @Test("a one-character relative path is inspected like any other")
    func oneCharacterPath() {
        // `NSString.deletingLastPathComponent` traps on such a path; `run --database x` crashed on it.
        let file = SQLiteEventStore.inspectFile(at: "x")
        #expect(file.kind == .absent || FileManager.default.fileExists(atPath: "x"))
    }

    /// A path that starts with `//` names the same file as with one `/`; inspected, it went to SQLite as a URI
    /// (`file://tmp/...`), whose authority SQLite refused, so the store was taken for "a file SQLite cannot read".
    @Test("a store named by a path that starts with two slashes is inspected as the store it is")
    func pathWithTwoLeadingSlashes() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory.appendingPathComponent("store.sqlite").path
            let opened = try await SQLiteEventStore.open(path: store, configuration: .testing)
            _ = try await opened.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            try await opened.saveCheckpoint(7, for: "c")
            opened.close()
            let doubled = "/" + store
            let file = SQLiteEventStore.inspectFile(at: doubled)
            #expect(file.isWhizbangStore, "\(file)")
            #expect(try SQLiteEventStore.checkpoint(for: "c", inStoreAt: doubled) == 7)
        }
    }

    /// SQLite follows a link and reads the WAL beside the file linked to. The inspection looked for the WAL beside
    /// the link's name, found none, and read the file as immutable, without the commits still in its WAL.
    @Test("a store named through a symbolic link is inspected with the commits in its WAL")
    func inspectedThroughASymbolicLink() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory.appendingPathComponent("store.sqlite").path
            let opened = try await SQLiteEventStore.open(path: store, configuration: .testing)
            defer { opened.close() }
            _ = try await opened.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            try await opened.saveCheckpoint(7, for: "c")
            let link = directory.appendingPathComponent("link.sqlite").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: store)
            #expect(FileManager.default.fileExists(atPath: store + "-wal"))

            #expect(try SQLiteEventStore.checkpoint(for: "c", inStoreAt: store) == 7)
            #expect(try SQLiteEventStore.checkpoint(for: "c", inStoreAt: link) == 7)
            #expect(SQLiteEventStore.inspectFile(at: link).isWhizbangStore, "\(SQLiteEventStore.inspectFile(at: link))")
            #expect(SQLiteEventStore.fileSizes(at: link).wal == SQLiteEventStore.fileSizes(at: store).wal)
            #expect(SQLiteEventStore.fileSizes(at: link).wal > 0)
        }
    }

    @Test("destroyStore refuses a symbolic link to a store, and removes neither")
    func refusesASymbolicLink() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory.appendingPathComponent("store.sqlite").path
            let opened = try await SQLiteEventStore.open(path: store, configuration: .testing)
            _ = try await opened.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            opened.close()
            let link = directory.appendingPathComponent("link.sqlite").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: store)

            #expect(throws: EventStoreError.self) { try SQLiteEventStore.destroyStore(at: link) }
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == store)
            #expect(SQLiteEventStore.inspectFile(at: store).isWhizbangStore)
        }
    }

    /// Before, the file was inspected, then held and removed without a second look: a database renamed into its
    /// place in between (another application's, say) was removed.
    @Test("destroyStore refuses, and removes nothing, when another file takes the store's place after inspection")
    func refusesAFileRenamedIntoPlace() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory.appendingPathComponent("store.sqlite").path
            let opened = try await SQLiteEventStore.open(path: store, configuration: .testing)
            opened.close()
            let foreign = directory.appendingPathComponent("foreign.sqlite").path
            _ = FileManager.default.createFile(atPath: foreign, contents: nil)
            _ = try executeRawSQL("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)", path: foreign)

            #expect(throws: EventStoreError.self) {
                try SQLiteEventStore.destroyStore(at: store) { _ = rename(foreign, store) }
            }
            #expect(try executeRawSQL("SELECT count(*) FROM customers", path: store) == [["0"]])
        }
    }

    /// `stat` fails with ENOENT on a symbolic link whose target is missing, so inspectFile called the link "nothing"
    /// and a restore went on to build a whole store, then failed to link it over the link with "appeared while the
    /// store was restored": a race that never happened.
    @Test("a symbolic link to nothing is found as a link, and a restore to it is refused before it writes")
    func danglingSymbolicLink() async throws {
        try await withTemporaryDirectory { directory in
            let link = directory.appendingPathComponent("link.sqlite").path
            let target = directory.appendingPathComponent("missing.sqlite").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)

            let file = SQLiteEventStore.inspectFile(at: link)
            #expect(file.exists, "\(file.description)")
            #expect(file.description.contains("symbolic link"), "\(file.description)")

            let error = await #expect(throws: EventStoreError.self) {
                try await SQLiteEventStore.restore([], to: link, configuration: .testing)
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("symbolic link") == true, "\(String(describing: error))")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
            #expect(!FileManager.default.fileExists(atPath: target))
        }
    }

    /// Before, the hold on the file renamed into place deleted its WAL when it closed after the refusal.
    @Test("destroyStore leaves the WAL of a database that takes the store's place after inspection as it was")
    func keepsTheWALOfAFileRenamedIntoPlace() async throws {
        try await withTemporaryDirectory { directory in
            let store = directory.appendingPathComponent("store.sqlite").path
            let opened = try await SQLiteEventStore.open(path: store, configuration: .testing)
            opened.close()
            let foreign = directory.appendingPathComponent("foreign.sqlite").path
            let wal = try await makeForeignDatabaseWithWAL(at: foreign)

            #expect(throws: EventStoreError.self) {
                try SQLiteEventStore.destroyStore(at: store) {
                    _ = rename(foreign + "-wal", store + "-wal")
                    _ = rename(foreign, store)
                }
            }
            #expect(FileManager.default.contents(atPath: store + "-wal") == wal)
        }
    }

    @Test("destroyStore refuses a store that a connection has open, and removes it once closed")
    func refusesAStoreInUse() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let user = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await user.append(makeEvents(2), to: "s", expectedVersion: .noStream)

            let error = #expect(throws: EventStoreError.self) { try SQLiteEventStore.destroyStore(at: path) }
            #expect(error?.message.contains("open") == true, "\(String(describing: error))")
            #expect(try await user.readStream("s", from: 1, direction: .forwards, limit: 10).count == 2)

            user.close()
            try SQLiteEventStore.destroyStore(at: path)
            #expect(SQLiteEventStore.inspectFile(at: path).kind == .absent)
        }
    }
}

@Suite("SQLiteEventStore keeps its locks", .timeLimit(.minutes(2)))
struct SQLiteEventStoreLockTests {
    @Test("opening a second store on a file this process has open leaves the first one's lock in place")
    func secondOpenKeepsTheLock() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let first = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { first.close() }
            _ = try await first.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            let second = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { second.close() }
            // Another process asks for the exclusive lock that no open connection lets it have.
            let probe = try await Python.run(
                "import sqlite3, sys\n"
                    + "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
                    + "c.execute('PRAGMA locking_mode=EXCLUSIVE')\n"
                    + "try:\n    c.execute('BEGIN EXCLUSIVE'); c.execute('ROLLBACK'); print('taken')\n"
                    + "except sqlite3.OperationalError as error:\n    print(error)\n",
                [path])
            #expect(probe.standardOutput == "database is locked\n", "\(probe.standardOutput)\(probe.standardError)")
        }
    }
}

@Suite("SQLiteEventStore beside a stray WAL", .timeLimit(.minutes(2)))
struct SQLiteStrayCompanionTests {
    @Test(
        "open and restore refuse to make a database where a WAL, journal or shared-memory file of its name already is",
        arguments: ["-wal", "-journal", "-shm"])
    func refusesAStrayCompanion(suffix: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            // Another database's WAL: SQLite would read its commits into the new database.
            let stray = Data("not this store's\n".utf8)
            try stray.write(to: URL(fileURLWithPath: path + suffix))
            await #expect(throws: EventStoreError.self) {
                _ = try await SQLiteEventStore.open(path: path, configuration: .testing)
            }
            await #expect(throws: EventStoreError.self) {
                _ = try await SQLiteEventStore.restore([], to: path, configuration: .testing)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["store.sqlite" + suffix])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + suffix)) == stray)
        }
    }
}

@Suite("SQLiteEventStore refuses before it writes", .timeLimit(.minutes(2)))
struct SQLiteRefusalTests {
    @Test("open refuses a database with the store's application id but not its tables, and leaves it as it was")
    func refusesALookAlikeUnchanged() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("look-alike.sqlite").path
            let made = try await Python.run(
                "import sqlite3, sys\n"
                    + "c = sqlite3.connect(sys.argv[1])\n"
                    + "c.execute('PRAGMA application_id = 1466460538')\n"
                    + "c.execute('CREATE TABLE notes (x)')\n"
                    + "c.execute(\"INSERT INTO notes VALUES ('mine')\")\n"
                    + "c.commit()\n",
                [path])
            try #require(made.status == 0, "\(made.standardError)")
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = await #expect(throws: EventStoreError.self) {
                _ = try await SQLiteEventStore.open(path: path, configuration: .testing)
            }
            #expect(error?.code == .incompatibleSchema)
            // Opened for writing first, the file had been switched to WAL mode (bytes 18 and 19 of its header).
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["look-alike.sqlite"])
        }
    }

    /// Before, a database without tables was taken for a new store whatever its application id: opening it switched
    /// it to WAL mode, replaced the id and made the store's tables in it.
    @Test("open refuses another application's database without tables, and leaves it as it was")
    func refusesAnotherApplicationsEmptyDatabaseUnchanged() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("theirs.sqlite").path
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            _ = try executeRawSQL("PRAGMA application_id = 42", path: path)
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            try #require(!before.isEmpty)

            let error = await expectError(.incompatibleSchema) {
                _ = try await SQLiteEventStore.open(path: path, configuration: .testing)
            }
            #expect(
                error?.message.contains("another application (application_id 42)") == true,
                "\(String(describing: error))")
            await expectError(.incompatibleSchema) {
                _ = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            }
            #expect(SQLiteEventStore.inspectFile(at: path).kind == .otherDatabase)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["theirs.sqlite"])
        }
    }
}

@Suite("SQLiteEventStore.inspectFile makes nothing beside a file", .timeLimit(.minutes(2)))
struct SQLiteInspectionSideEffectTests {
    @Test("inspecting another application's database with a WAL but no shared-memory file makes none")
    func inspectionMakesNoSharedMemoryFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("theirs.db").path
            let wal = try await makeForeignDatabaseWithWAL(at: path)

            let file = SQLiteEventStore.inspectFile(at: path)
            #expect(file.kind == .otherDatabase, "\(file.description)")
            #expect(throws: EventStoreError.self) { _ = try SQLiteEventStore.checkpoint(for: "c", inStoreAt: path) }
            #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")) == wal)
        }
    }
}

/// Another application's database at `path`, as its program leaves it when it commits in WAL mode and is stopped
/// without closing: its commit only in the WAL, and no shared-memory file. Returns the WAL's bytes.
private func makeForeignDatabaseWithWAL(at path: String) async throws -> Data {
    let made = try await Python.run(
        "import sqlite3, sys, os\n"
            + "c = sqlite3.connect(sys.argv[1])\n"
            + "c.execute('PRAGMA journal_mode=WAL')\n"
            + "c.execute('PRAGMA wal_autocheckpoint=0')\n"
            + "c.execute('CREATE TABLE precious (x)')\n"
            + "c.execute('INSERT INTO precious VALUES (1)')\n"
            + "c.commit()\n"
            + "os.remove(sys.argv[1] + '-shm')\n"
            + "os._exit(0)\n",
        [path])
    try #require(made.status == 0, "\(made.standardError)")
    let wal = try Data(contentsOf: URL(fileURLWithPath: path + "-wal"))
    try #require(!wal.isEmpty)
    return wal
}

/// The names SQLite reads as something other than a file are passed to it as the files they name.
@Suite("SQLite file names")
struct SQLiteFileNameTests {
    @Test("`:memory:` and a name that starts with `file:` reach SQLite as the files they name")
    func specialNamesAreFiles() {
        #expect(SQLiteConnection.plainFileName(":memory:") == "./:memory:")
        #expect(SQLiteConnection.plainFileName("file:x.sqlite") == "./file:x.sqlite")
        #expect(SQLiteConnection.plainFileName("/tmp/:memory:") == "/tmp/:memory:")
        #expect(SQLiteConnection.plainFileName("ledger.sqlite") == "ledger.sqlite")
    }
}
