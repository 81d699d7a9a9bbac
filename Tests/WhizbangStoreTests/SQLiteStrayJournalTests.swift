import Foundation
import ProcessTesting
import Testing
import Whizbang
@testable import WhizbangStore

/// A rollback journal beside a store is never the store's (it always runs in WAL mode): it is another database's,
/// copied in or left by another program. A connection that may write would roll it back into the store, writing that
/// database's pages over the store's; before, every open that could write did, and the store was destroyed.
@Suite("SQLiteEventStore beside a stray rollback journal", .timeLimit(.minutes(2)))
struct SQLiteStrayJournalTests {
    /// The ways a store on a file is opened.
    enum Opening: String, CaseIterable, CustomStringConvertible {
        case open, openReadOnly, checkpoint, replacingRestore, destroy
        var description: String { rawValue }
    }

    /// Opens the store at `path` as `opening` says (read-only for `.openReadOnly`, a store that may write otherwise)
    /// and closes it.
    static func openAndClose(_ path: String, _ opening: Opening) async throws {
        switch opening {
        case .openReadOnly:
            let store = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
            store.close()
        default:
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            await store.shutdown()
        }
    }

    /// A store at `path` marked by the consumer "ledger", closed, with a hot rollback journal of another database
    /// (made while that database's write transaction was under way, its pages spilled) at `path-journal`.
    static func makeStoreWithForeignJournal(_ path: String, in directory: URL) async throws {
        let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
        for index in 0..<20 {
            _ = try await store.append(makeEvents(50), to: StreamID("account-\(index)"), expectedVersion: .any)
        }
        try await store.saveCheckpoint(0, for: "ledger")
        await store.shutdown()
        let other = directory.appendingPathComponent("other.sqlite").path
        let made = try await Python.run(
            """
            import sqlite3, shutil, sys
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute('CREATE TABLE mine (x)')
            c.execute('BEGIN')
            for i in range(300): c.execute('INSERT INTO mine VALUES (?)', ('y' * 3000,))
            c.execute('COMMIT')
            c.execute('BEGIN')
            c.execute("UPDATE mine SET x = 'z'")
            c.execute('PRAGMA cache_size = 1')
            c.execute('DELETE FROM mine WHERE rowid % 2 = 0')
            shutil.copy(sys.argv[1] + '-journal', sys.argv[2] + '-journal')
            c.execute('ROLLBACK')
            """,
            [other, path])
        try #require(made.status == 0, "\(made.standardError)")
        for file in [other, other + "-journal"] { try? FileManager.default.removeItem(atPath: file) }
    }

    @Test("every open refuses a store with a rollback journal beside it, naming it, and changes nothing",
        arguments: Opening.allCases)
    func refusesAStrayJournal(opening: Opening) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            try await Self.makeStoreWithForeignJournal(path, in: directory)
            let before = try Self.contents(of: directory)
            try #require(before["store.sqlite-journal"].map { !$0.isEmpty } == true)
            let error = await expectError(.invalidArgument) {
                switch opening {
                case .open:
                    let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
                    await store.shutdown()
                case .openReadOnly:
                    let store = try await SQLiteReadOnlyEventStore.open(path: path, configuration: .testing)
                    store.close()
                case .checkpoint:
                    _ = try SQLiteEventStore.checkpoint(for: "ledger", inStoreAt: path)
                case .replacingRestore:
                    _ = try await SQLiteEventStore.restore(
                        [], checkpoints: ["ledger": 0], to: path, configuration: .testing,
                        replacingStoreMarkedBy: "ledger")
                case .destroy:
                    try SQLiteEventStore.destroyStore(at: path)
                }
            }
            let message = error?.message ?? ""
            #expect(message.contains(path + "-journal"), "\(message)")
            #expect(message.contains("rollback journal"), "\(message)")
            #expect(message.lowercased().contains("nothing was changed"), "\(message)")
            #expect(try Self.contents(of: directory) == before)
        }
    }

    @Test("a symbolic link named as a journal is refused too, beside the file a link to the store leads to")
    func refusesAJournalLinkBesideTheLinkedFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(3), to: StreamID("account-1"), expectedVersion: .any)
            await store.shutdown()
            let link = directory.appendingPathComponent("link.sqlite").path
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
            try FileManager.default.createSymbolicLink(atPath: path + "-journal", withDestinationPath: "nowhere")
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = await expectError(.invalidArgument) {
                let store = try await SQLiteEventStore.open(path: link, configuration: .testing)
                await store.shutdown()
            }
            #expect(error?.message.contains(path + "-journal") == true, "\(String(describing: error))")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        }
    }

    /// SQLite opens a WAL and a shared-memory file with `O_NOFOLLOW`: a link there failed the open with a bare
    /// "unable to open database file (errno 40)", after the other file had been made.
    @Test(
        "an open refuses a store whose WAL or shared-memory file is a symbolic link, naming it, and changes nothing",
        arguments: [Opening.open, .openReadOnly], ["-wal", "-shm"])
    func refusesALinkedCompanion(opening: Opening, suffix: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(3), to: StreamID("account-1"), expectedVersion: .any)
            await store.shutdown()
            // A loop, a link to another file, a link to nothing.
            let other = directory.appendingPathComponent("other").path
            try Data("someone's\n".utf8).write(to: URL(fileURLWithPath: other))
            for target in [path + suffix, other, "nowhere"] {
                try FileManager.default.createSymbolicLink(atPath: path + suffix, withDestinationPath: target)
                let before = try Self.contents(of: directory)
                let error = await expectError(.invalidArgument) { try await Self.openAndClose(path, opening) }
                let message = error?.message ?? ""
                #expect(message.contains(path + suffix + " is a symbolic link"), "\(target): \(message)")
                #expect(message.contains("Nothing was changed"), "\(target): \(message)")
                #expect(try Self.contents(of: directory) == before, "\(target)")
                try FileManager.default.removeItem(atPath: path + suffix)
            }
        }
    }

    /// SQLite writes a WAL and a shared-memory file it finds, whatever other names they have: a read wrote its
    /// shared-memory index, and a run its WAL frames, into another file linked there.
    @Test(
        "an open refuses a store whose WAL or shared-memory file has another name (a hard link), and changes nothing",
        arguments: [Opening.open, .openReadOnly], ["-wal", "-shm"])
    func refusesAHardLinkedCompanion(opening: Opening, suffix: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(3), to: StreamID("account-1"), expectedVersion: .any)
            await store.shutdown()
            let other = directory.appendingPathComponent("notes.txt").path
            try Data("someone's notes\n".utf8).write(to: URL(fileURLWithPath: other))
            try #require(link(other, path + suffix) == 0)
            let before = try Self.contents(of: directory)
            let error = await expectError(.invalidArgument) { try await Self.openAndClose(path, opening) }
            let message = error?.message ?? ""
            #expect(message.contains(path + suffix + " is a file with 2 names (hard links)"), "\(message)")
            #expect(message.contains("Nothing was changed"), "\(message)")
            #expect(try Self.contents(of: directory) == before)
        }
    }

    /// SQLite's WAL does not name its database, so another database's WAL beside a store cannot be told from the
    /// store's own before it is read. Before, the replacing restore's hold read it as the store's, failed its checks,
    /// and on closing checkpointed that database's pages into the store, destroying it.
    @Test("a replacing restore that finds another database's WAL beside the store leaves the store and the WAL as they were")
    func replacingRestoreLeavesAForeignWAL() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("store.sqlite").path
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            _ = try await store.append(makeEvents(20), to: StreamID("account-1"), expectedVersion: .any)
            try await store.saveCheckpoint(0, for: "ledger")
            await store.shutdown()
            let other = directory.appendingPathComponent("other.sqlite").path
            let made = try await Python.run(
                """
                import sqlite3, shutil, sys, os
                c = sqlite3.connect(sys.argv[1])
                c.execute('PRAGMA journal_mode = WAL')
                c.execute('PRAGMA wal_autocheckpoint = 0')
                c.execute('CREATE TABLE mine (x)')
                for i in range(200): c.execute('INSERT INTO mine VALUES (?)', ('x' * 3000,))
                c.commit()
                shutil.copy(sys.argv[1] + '-wal', sys.argv[2] + '-wal')
                os._exit(0)
                """,
                [other, path])
            try #require(made.status == 0, "\(made.standardError)")
            let file = try Data(contentsOf: URL(fileURLWithPath: path))
            let wal = try Data(contentsOf: URL(fileURLWithPath: path + "-wal"))
            let error = await expectError(.invalidArgument) {
                _ = try await SQLiteEventStore.restore(
                    [], checkpoints: ["ledger": 0], to: path, configuration: .testing, replacingStoreMarkedBy: "ledger")
            }
            #expect(error?.message.contains(path + "-wal") == true, "\(String(describing: error))")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == file)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")) == wal)
        }
    }

    /// The bytes of every file in `directory` (links as the path they hold), by name.
    static func contents(of directory: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let path = directory.appendingPathComponent(name).path
            if let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                result[name] = Data("-> \(destination)".utf8)
            } else {
                result[name] = try Data(contentsOf: URL(fileURLWithPath: path))
            }
        }
        return result
    }
}
