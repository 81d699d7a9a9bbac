import Foundation
import ProcessTesting
import Synchronization
import Testing
import Whizbang
import WhizbangStore

#if canImport(Glibc)
import Glibc
#endif

@Suite("SQLiteEventStore.restore replacing a marked store", .timeLimit(.minutes(5)))
struct SQLiteRestoreReplacingTests {
    private static let marker = "owner-mark"

    /// `count` events of one stream, numbered from position 1, with `label` in each payload.
    private func log(_ count: Int, stream: String, label: String) -> [RecordedEvent] {
        (1...count).map { index in
            RecordedEvent(
                streamID: StreamID(stream), streamVersion: UInt64(index), position: UInt64(index), eventID: MessageID(),
                eventType: "Noted", data: Data(#"{"label":"\#(label)","n":\#(index)}"#.utf8), metadata: Data(),
                recordedAt: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)))
        }
    }

    /// A store at `path` restored from `events`, with `checkpoints`.
    private func makeStore(_ path: String, _ events: [RecordedEvent], checkpoints: [String: UInt64]) async throws {
        try await SQLiteEventStore.restore(events, checkpoints: checkpoints, to: path, configuration: .testing)
    }

    /// What a store at `path` holds: its events and the checkpoints of `consumers`.
    private func contents(_ path: String, consumers: [String]) async throws -> ([RecordedEvent], [UInt64?]) {
        let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
        defer { store.close() }
        var positions: [UInt64?] = []
        for consumer in consumers { positions.append(try await store.checkpoint(for: consumer)) }
        return (try await store.readAll(after: 0, limit: 100_000), positions)
    }

    private func names(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    @Test("replaces a marked store whose last commits are still in its WAL; none of the old store's pages survive")
    func replacesAMarkedStore() async throws {
        try await withTemporaryDirectory { directory in
            // A store killed with commits in its WAL: the database, its WAL and its shared-memory file, copied while
            // the store was open (nothing was being written).
            let source = directory.appendingPathComponent("source.sqlite").path
            let path = directory.appendingPathComponent("ledger.sqlite").path
            try await makeStore(source, log(3, stream: "old", label: "old"), checkpoints: [Self.marker: 0, "old": 3])
            let open = try await SQLiteEventStore.open(path: source, configuration: .testing)
            _ = try await open.append(makeEvents(200), to: StreamID("old"), expectedVersion: .exact(3))
            try await open.saveCheckpoint(203, for: "old")
            for suffix in ["", "-wal", "-shm"] {
                try FileManager.default.copyItem(atPath: source + suffix, toPath: path + suffix)
            }
            open.close()
            var status = stat()
            #expect(stat(path + "-wal", &status) == 0 && status.st_size > 0, "the copy must have commits in its WAL")

            let new = log(5, stream: "new", label: "new")
            let written = try await SQLiteEventStore.restore(
                new, checkpoints: [Self.marker: 0, "reader": 2], to: path, configuration: .testing,
                replacingStoreMarkedBy: Self.marker)
            #expect(written == 5)
            #expect(stat(path + "-wal", &status) != 0, "the old store's WAL is gone")
            let (events, checkpoints) = try await contents(path, consumers: [Self.marker, "reader", "old"])
            #expect(events == new)
            #expect(checkpoints == [0, 2, nil])
            #expect(SQLiteEventStore.inspectFile(at: path).isWhizbangStore)
            let store = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { store.close() }
            #expect(try await store.integrityCheck().isEmpty)
            #expect(!(try names(in: directory)).contains { $0.contains(".restoring-") })
        }
    }

    @Test("with a marker and nothing at the path, creates the store as a plain restore does")
    func createsWhereNothingIs() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let new = log(4, stream: "new", label: "new")
            try await SQLiteEventStore.restore(
                new, checkpoints: [Self.marker: 0], to: path, configuration: .testing,
                replacingStoreMarkedBy: Self.marker)
            #expect(try await contents(path, consumers: [Self.marker]) == (new, [0]))
        }
    }

    enum Refused: String, CaseIterable, CustomStringConvertible {
        case withoutMark, otherMark, symbolicLink, otherFile, openStore, companionNotAFile
        var description: String { rawValue }
    }

    @Test("refuses anything but a marked store nobody has open, and changes nothing", arguments: Refused.allCases)
    func refuses(refused: Refused) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let store = directory.appendingPathComponent("store.sqlite").path
            let old = log(3, stream: "old", label: "old")
            var holder: SQLiteEventStore?
            switch refused {
            case .withoutMark:
                try await makeStore(path, old, checkpoints: ["reader": 1])
            case .otherMark:
                try await makeStore(path, old, checkpoints: ["another-mark": 0])
            case .symbolicLink:
                try await makeStore(store, old, checkpoints: [Self.marker: 0])
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: store)
            case .otherFile:
                try Data("not a store\n".utf8).write(to: URL(fileURLWithPath: path))
            case .openStore:
                try await makeStore(path, old, checkpoints: [Self.marker: 0])
                holder = try await SQLiteEventStore.open(path: path, configuration: .testing)
            case .companionNotAFile:
                // A FIFO under the WAL's name is someone else's: the replacement removed it (and SQLite, opening
                // it, changed its permissions).
                try await makeStore(path, old, checkpoints: [Self.marker: 0])
                try #require(mkfifo(path + "-wal", 0o644) == 0)
            }
            var fifoBefore = stat()
            let hasFIFO = lstat(path + "-wal", &fifoBefore) == 0 && fifoBefore.st_mode & S_IFMT == S_IFIFO
            let namesBefore = try names(in: directory)
            let bytesBefore = try Data(contentsOf: URL(fileURLWithPath: path))
            await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    self.log(2, stream: "new", label: "new"), checkpoints: [Self.marker: 0], to: path,
                    configuration: .testing, replacingStoreMarkedBy: Self.marker)
            }
            #expect(try names(in: directory) == namesBefore)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytesBefore)
            if hasFIFO {
                var fifoAfter = stat()
                #expect(lstat(path + "-wal", &fifoAfter) == 0 && fifoAfter.st_mode == fifoBefore.st_mode)
                unlink(path + "-wal")
            }
            if let holder {
                // The store that was open goes on: its events are the old ones, and it takes appends.
                #expect(try await holder.readAll(after: 0, limit: 100) == old)
                _ = try await holder.append(makeEvents(1), to: StreamID("old"), expectedVersion: .exact(3))
                holder.close()
            }
            if refused != .otherFile {
                let (events, _) = try await contents(path, consumers: [])
                #expect(events.count == (refused == .openStore ? 4 : 3))
            }
        }
    }

    /// What a user adds to a store file the store did not create, and the words a refusal names it by.
    enum Foreign: String, CaseIterable, CustomStringConvertible {
        case table, view, trigger, index, column
        var description: String { rawValue }

        var sql: String {
            switch self {
            case .table: "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');"
            case .view: "CREATE VIEW recent AS SELECT position FROM events;"
            case .trigger: "CREATE TRIGGER stamp AFTER INSERT ON checkpoints BEGIN SELECT 1; END;"
            case .index: "CREATE INDEX events_by_type ON events (event_type);"
            case .column: "ALTER TABLE events ADD COLUMN note TEXT;"
            }
        }

        var words: String {
            switch self {
            case .table: "table notes"
            case .view: "view recent"
            case .trigger: "trigger stamp on checkpoints"
            case .index: "index events_by_type on events"
            case .column: "column note on events"
            }
        }
    }

    /// A replacement dropped the whole file, so the tables, views, triggers and indexes a user had added to it went
    /// with the old store (as the PostgreSQL store refuses to, `PostgresStoreSchema/otherObjects`).
    @Test("refuses a marked store that holds what the store did not create, naming it, and changes nothing",
        arguments: Foreign.allCases)
    func refusesAStoreHoldingOthersObjects(foreign: Foreign) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let old = log(3, stream: "old", label: "old")
            try await makeStore(path, old, checkpoints: [Self.marker: 0])
            _ = try executeRawSQL(foreign.sql, path: path)
            let namesBefore = try names(in: directory)
            let bytesBefore = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    self.log(2, stream: "new", label: "new"), checkpoints: [Self.marker: 0], to: path,
                    configuration: .testing, replacingStoreMarkedBy: Self.marker)
            }
            #expect(error?.message.contains("(\(foreign.words))") == true, "\(error?.message ?? "")")
            #expect(try names(in: directory) == namesBefore)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytesBefore)
            #expect(try await contents(path, consumers: []).0 == old)
        }
    }

    /// The check is made again under the exclusive hold, before the rename: what was added while the new store was
    /// built (here from the restore's `progress`, which runs between the two checks) is found too.
    @Test("refuses a marked store that was given a table while the new store was built")
    func refusesATableAddedDuringTheRestore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let old = log(3, stream: "old", label: "old")
            try await makeStore(path, old, checkpoints: [Self.marker: 0])
            let added = Mutex(false)
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    self.log(2, stream: "new", label: "new"), checkpoints: [Self.marker: 0], to: path,
                    configuration: .testing, replacingStoreMarkedBy: Self.marker
                ) { _ in
                    added.withLock { added in
                        if !added { _ = try? executeRawSQL("CREATE TABLE notes (body TEXT);", path: path) }
                        added = true
                    }
                    return true
                }
            }
            #expect(added.withLock { $0 })
            #expect(error?.message.contains("(table notes)") == true, "\(error?.message ?? "")")
            #expect(try names(in: directory) == ["ledger.sqlite"])
            #expect(try executeRawSQL("SELECT count(*) FROM notes", path: path) == [["0"]])
            #expect(try await contents(path, consumers: []).0 == old)
        }
    }

    /// The hold's connection made the old store's WAL when it opened, and kept it when it closed after a refusal
    /// other than for objects the store did not create: an empty `-wal` stayed beside the store, and once the store
    /// was removed it made the next store at that path refused (a WAL without its database).
    @Test("a store that lost its mark while the new store was built is refused, and nothing is left beside it")
    func refusesAStoreThatLostItsMarkDuringTheRestore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let old = log(3, stream: "old", label: "old")
            try await makeStore(path, old, checkpoints: [Self.marker: 0, "reader": 1])
            let namesBefore = try names(in: directory)
            try #require(namesBefore == ["ledger.sqlite"])
            let removed = Mutex(false)
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    self.log(2, stream: "new", label: "new"), checkpoints: [Self.marker: 0], to: path,
                    configuration: .testing, replacingStoreMarkedBy: Self.marker
                ) { _ in
                    removed.withLock { removed in
                        if !removed {
                            _ = try? executeRawSQL(
                                "DELETE FROM checkpoints WHERE consumer = '\(Self.marker)';", path: path)
                        }
                        removed = true
                    }
                    return true
                }
            }
            #expect(removed.withLock { $0 })
            #expect(error?.message.contains("changed while the store was restored") == true, "\(error?.message ?? "")")
            let namesAfter = try names(in: directory)
            #expect(namesAfter == namesBefore)
            #expect(try await contents(path, consumers: [Self.marker, "reader"]) == (old, [nil, 1]))
            // With the store gone, a new one can be made at its path.
            try FileManager.default.removeItem(atPath: path)
            let fresh = try await SQLiteEventStore.open(path: path, configuration: .testing)
            fresh.close()
        }
    }

    /// A store that newer code migrated while the new store was built is refused as the first check refuses it, with
    /// `invalidArgument`; under the hold the raw `incompatibleSchema` came through, and the hold's WAL stayed.
    @Test("a store given a newer schema version while the new store was built is refused as one found so at first")
    func refusesAStoreMadeNewerDuringTheRestore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let old = log(3, stream: "old", label: "old")
            try await makeStore(path, old, checkpoints: [Self.marker: 0])
            let namesBefore = try names(in: directory)
            try #require(namesBefore == ["ledger.sqlite"])
            let bumped = Mutex(false)
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    self.log(2, stream: "new", label: "new"), checkpoints: [Self.marker: 0], to: path,
                    configuration: .testing, replacingStoreMarkedBy: Self.marker
                ) { _ in
                    bumped.withLock { bumped in
                        if !bumped { _ = try? executeRawSQL("INSERT INTO schema_version VALUES (99, 0);", path: path) }
                        bumped = true
                    }
                    return true
                }
            }
            #expect(bumped.withLock { $0 })
            #expect(error?.message.contains("schema version 99") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("the restore left it alone") == true, "\(error?.message ?? "")")
            let namesAfter = try names(in: directory)
            #expect(namesAfter == namesBefore)
            #expect(try executeRawSQL("SELECT count(*) FROM events", path: path) == [["3"]])
        }
    }

    /// The objects of a newer schema version are not known to this code, so none of them can be told from a user's.
    @Test("refuses a marked store of a newer schema version, and changes nothing")
    func refusesANewerStore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let old = log(3, stream: "old", label: "old")
            try await makeStore(path, old, checkpoints: [Self.marker: 0])
            _ = try executeRawSQL("INSERT INTO schema_version VALUES (99, 0);", path: path)
            let bytesBefore = try Data(contentsOf: URL(fileURLWithPath: path))
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    [], checkpoints: [Self.marker: 0], to: path, configuration: .testing,
                    replacingStoreMarkedBy: Self.marker)
            }
            #expect(error?.message.contains("schema version 99") == true, "\(error?.message ?? "")")
            #expect(try names(in: directory) == ["ledger.sqlite"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytesBefore)
        }
    }

    @Test("a refusal names the first five objects that are not the store's, and how many more there are")
    func refusalNamesAFewObjects() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            try await makeStore(path, log(3, stream: "old", label: "old"), checkpoints: [Self.marker: 0])
            _ = try executeRawSQL((1...8).map { "CREATE TABLE notes_\($0) (body TEXT);" }.joined(), path: path)
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    [], checkpoints: [Self.marker: 0], to: path, configuration: .testing,
                    replacingStoreMarkedBy: Self.marker)
            }
            let named = (1...5).map { "table notes_\($0)" }.joined(separator: ", ")
            #expect(error?.message.contains("(\(named), and 3 more)") == true, "\(error?.message ?? "")")
        }
    }

    /// The store's own objects are replaced as before: its read models' tables with their rows, and SQLite's own
    /// (`sqlite_autoindex_...`, `sqlite_stat1` after `ANALYZE`).
    @Test("replaces a marked store whose read model has rows, and one that SQLite analyzed")
    func replacesAStoreWithReadModelRows() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            try await makeStore(path, [], checkpoints: [Self.marker: 0])
            var configuration = SQLiteEventStore.Configuration.testing
            configuration.readModels = [EventCounts()]
            let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
            _ = try await store.append(makeEvents(5), to: StreamID("old"), expectedVersion: .exact(0))
            await store.shutdown()
            _ = try executeRawSQL("ANALYZE;", path: path)
            let rows = try executeRawSQL("SELECT count(*) FROM read_model_rows", path: path)
            try #require(rows == [["1"]])
            let new = log(2, stream: "new", label: "new")
            try await SQLiteEventStore.restore(
                new, checkpoints: [Self.marker: 0], to: path, configuration: .testing,
                replacingStoreMarkedBy: Self.marker)
            #expect(try await contents(path, consumers: [Self.marker]) == (new, [0]))
        }
    }

    /// A store of an older schema version holds fewer tables of its own: one named as a later version's table is
    /// someone else's. (The fixture is a store at schema version 2, before read models.)
    @Test("replaces a marked store of an older schema version, but not one holding a later version's table name")
    func replacesAnOlderStoreButNotItsLookalikeTable() async throws {
        try await withTemporaryDirectory { directory in
            let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("Fixtures/library-v1.sqlite")
            let path = directory.appendingPathComponent("ledger.sqlite").path
            try FileManager.default.copyItem(atPath: fixture.path, toPath: path)
            _ = try executeRawSQL("INSERT INTO checkpoints VALUES ('\(Self.marker)', 0);", path: path)
            let lookalike = directory.appendingPathComponent("lookalike.sqlite").path
            try FileManager.default.copyItem(atPath: path, toPath: lookalike)
            _ = try executeRawSQL("CREATE TABLE read_models (name TEXT);", path: lookalike)
            let error = await expectError(.invalidArgument) {
                try await SQLiteEventStore.restore(
                    [], checkpoints: [Self.marker: 0], to: lookalike, configuration: .testing,
                    replacingStoreMarkedBy: Self.marker)
            }
            #expect(error?.message.contains("(table read_models)") == true, "\(error?.message ?? "")")
            let new = log(2, stream: "new", label: "new")
            try await SQLiteEventStore.restore(
                new, checkpoints: [Self.marker: 0], to: path, configuration: .testing,
                replacingStoreMarkedBy: Self.marker)
            #expect(try await contents(path, consumers: [Self.marker]) == (new, [0]))
        }
    }

    @Test("a restore stopped before its commit leaves the old store as it was")
    func stoppedRestoreLeavesTheOldStore() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("ledger.sqlite").path
            let old = log(3, stream: "old", label: "old")
            try await makeStore(path, old, checkpoints: [Self.marker: 0])
            await #expect(throws: CancellationError.self) {
                try await SQLiteEventStore.restore(
                    self.log(10_000, stream: "new", label: "new"), to: path, configuration: .testing,
                    replacingStoreMarkedBy: Self.marker
                ) { written in written < 4_096 }
            }
            #expect(try names(in: directory) == ["ledger.sqlite"])
            #expect(try await contents(path, consumers: [Self.marker]) == (old, [0]))
        }
    }
}

/// A read model of one row: how many events the store holds.
private struct EventCounts: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable { var count: Int }

    let name = "event-counts"

    func keys(of event: RecordedEvent) throws -> [String] { ["all"] }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        Row(count: (row?.count ?? 0) + 1)
    }
}
