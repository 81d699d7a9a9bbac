import Foundation
import Testing
import Whizbang
import WhizbangPostgres
import WhizbangStore
import WhizbangTesting

@testable import LibraryExample

/// The library example: the same `run(on:)` in memory, on SQLite and on PostgreSQL ends with the same read model
/// rows and the same log; the overdue notices as a process-manager scenario; and a database written by version 1 of
/// `BookLent` read by today's code.
@Suite(.timeLimit(.minutes(5)))
struct LibraryExampleTests {
    @Test func theLibraryRunsTheSameInMemoryOnSQLiteAndOnPostgreSQL() async throws {
        let inMemory = try await LibraryExample.run(on: InMemoryEventStore(configuration: .library))
        #expect(inMemory.loans == ["book-emma": .init(member: "member-ada", due: 5), "book-ulysses": .init(member: "member-alan", due: 2)])
        #expect(inMemory.report.contains("ivanhoe not lent to ada: loanLimitReached(limit: 2)"))
        #expect(inMemory.report.contains("ada holds book-dune, book-emma"))
        #expect(inMemory.report.contains("on loan from book-a to book-f: book-dune, book-emma"))
        #expect(inMemory.report.contains("notices to ada: book-dune@4"))
        #expect(inMemory.report.contains("notices to alan: book-ulysses@4"))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("library-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var sqliteConfiguration = SQLiteEventStore.Configuration()
        sqliteConfiguration.readModels = LibraryExample.readModels
        let sqlite = try await SQLiteEventStore.open(
            path: directory.appendingPathComponent("library.sqlite").path, configuration: sqliteConfiguration)
        let onSQLite = try await LibraryExample.run(on: sqlite)
        await sqlite.shutdown()
        #expect(onSQLite == inMemory)

        guard let url = ProcessInfo.processInfo.environment["WHIZBANG_POSTGRES_URL"], !url.isEmpty else { return }
        // A schema of its own, whose tables are dropped afterwards.
        var configuration = try PostgresEventStore.Configuration(url: url)
        configuration.schema = "library_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        configuration.readModels = LibraryExample.readModels
        let dropped = configuration
        let onPostgres = try await PostgresEventStore.withRunningStore(configuration: configuration) { store in
            try await LibraryExample.run(on: store)
        }
        try await PostgresEventStore.dropStoreTables(configuration: dropped)
        #expect(onPostgres == inMemory)
    }

    @Test func aClosedDaySendsOneNoticePerOverdueLoanUnderDerivedIDs() async throws {
        let scenario = ProcessManagerScenario { dispatcher in
            OverdueNotices(members: dispatcher.aggregate(Member.self))
        }
        try await scenario.given(Member.self, stream: "member-ada", [.joined(.init(name: "Ada"))])
        let closed = try await scenario.when(
            Desk.self, stream: Desk.streamID,
            [.closed(.init(day: 4, overdue: [.init(book: "book-dune", member: "member-ada")]))])
        try await scenario.then(commands: [
            ExpectedCommand(
                Member.self, to: "member-ada",
                id: OverdueNotices<InMemoryEventStore>.commandID(event: closed[0].eventID, book: "book-dune"),
                causedBy: closed[0].eventID, recording: [.noticed(.init(book: "book-dune", day: 4))])
        ])
    }

    /// `Fixtures/library-v1.sqlite` was written before `BookLent` renamed `borrower` to `member` (schema version 1
    /// of the event); today's registry reads it through its upcaster.
    @Test func aDatabaseWrittenWithVersionOneOfBookLentLoads() async throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/library-v1.sqlite")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("library-v1-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("library.sqlite")
        try FileManager.default.copyItem(at: fixture, to: copy)
        let store = try await SQLiteEventStore.open(path: copy.path)
        let lent = try await store.readStream(Book.streamID("dune"), from: 1, direction: .forwards, limit: 10)
        #expect(lent.map(\.schemaVersion) == [1, 1])
        #expect(try lent.map { try $0.decode(as: Book.self) } == [
            .added(.init(title: "Dune")), .lent(.init(member: "ada", due: 3)),
        ])
        let dispatcher = Dispatcher(store: store)
        let book = try await dispatcher.aggregate(Book.self).load(Book.streamID("dune")).state
        #expect(book.lentTo == "ada" && book.due == 3)
        _ = try await dispatcher.aggregate(Book.self).send(.giveBack(member: "ada"), to: Book.streamID("dune"))
        _ = try await dispatcher.aggregate(Book.self).send(.lend(member: "alan", due: 9), to: Book.streamID("dune"))
        let written = try await store.readStream(Book.streamID("dune"), from: 4, direction: .forwards, limit: 10)
        #expect(written.map(\.schemaVersion) == [2])
        await dispatcher.shutdown()
        await store.shutdown()
    }

    /// Writes the version-1 fixture to the path in `WHIZBANG_WRITE_LIBRARY_FIXTURE`; run once, by hand, when the
    /// fixture is made. Skipped otherwise.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["WHIZBANG_WRITE_LIBRARY_FIXTURE"] != nil))
    func writeTheVersionOneFixture() async throws {
        let path = try #require(ProcessInfo.processInfo.environment["WHIZBANG_WRITE_LIBRARY_FIXTURE"])
        let store = try await SQLiteEventStore.open(path: path)
        _ = try await store.append(
            [
                EventData(eventType: "BookAdded", data: Data(#"{"title":"Dune"}"#.utf8)),
                EventData(eventType: "BookLent", schemaVersion: 1, data: Data(#"{"borrower":"ada","due":3}"#.utf8)),
            ], to: Book.streamID("dune"), expectedVersion: .noStream)
        _ = try await store.append(
            [EventData(eventType: "MemberJoined", data: Data(#"{"name":"Ada"}"#.utf8))], to: Member.streamID("ada"),
            expectedVersion: .noStream)
        await store.shutdown()
    }
}
