import Foundation
import Whizbang
import WhizbangPostgres
import WhizbangStore

/// Books, members, a loans read model queried through the store, and an overdue-notice process manager; the same
/// code on any store that keeps read models.
@main
struct LibraryExample {
    /// The read models the store keeps for the library.
    static let readModels: [any ReadModelProjection] = [Loans()]

    static func main() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("library-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("library.sqlite").path

        // The only line that names a store: an SQLite file, closed when the store is released. README.md shows the
        // line for PostgreSQL and for memory.
        let outcome = try await run(on: SQLiteEventStore.open(path: file, configuration: .library))
        print(outcome.report)
    }

    /// What a run left: the loans read model's rows and the log's event types.
    struct Outcome: Equatable, Sendable {
        var loans: [String: Loans.Row]
        var log: [String]
        var report: String
    }

    /// Everything else: the same code on any ``ReadModelStore`` that has ``readModels`` registered.
    static func run<Store: ReadModelStore>(on store: Store) async throws -> Outcome {
        let dispatcher = Dispatcher(store: store)
        let books = dispatcher.aggregate(Book.self)
        let members = dispatcher.aggregate(Member.self)
        let desk = dispatcher.aggregate(Desk.self)
        let loans = ReadModel(Loans(), in: store)
        var lines: [String] = []

        for (id, title) in [("dune", "Dune"), ("emma", "Emma"), ("ivanhoe", "Ivanhoe"), ("ulysses", "Ulysses")] {
            _ = try await books.send(.add(title: title), to: Book.streamID(id))
        }
        for (id, name) in [("ada", "Ada"), ("alan", "Alan")] {
            _ = try await members.send(.join(name: name), to: Member.streamID(id))
        }

        // Lending is two steps: the member's lane checks the loan limit, then the book's lane lends the copy.
        func lend(_ book: String, to member: String, due: Int) async throws {
            do {
                _ = try await members.send(.borrow(book: book), to: Member.streamID(member))
                _ = try await books.send(.lend(member: member, due: due), to: Book.streamID(book))
                lines.append("\(book) lent to \(member), due day \(due)")
            } catch let refusal as Member.Refusal {
                lines.append("\(book) not lent to \(member): \(refusal)")
            }
        }
        try await lend("dune", to: "ada", due: 3)
        try await lend("emma", to: "ada", due: 5)
        try await lend("ivanhoe", to: "ada", due: 5)  // over the limit of two
        try await lend("ulysses", to: "alan", due: 2)
        _ = try await books.send(.reserve(member: "alan"), to: Book.streamID("dune"))

        // The read model answers at once: an inline read model is written in the append's transaction.
        let adas = try await loans.rows(matching: .indexed(Member.streamID("ada").rawValue))
        lines.append("ada holds " + adas.map(\.key).joined(separator: ", "))
        let shelf = try await loans.rows(matching: .keys(from: "book-a", before: "book-f"))
        lines.append("on loan from book-a to book-f: " + shelf.map(\.key).joined(separator: ", "))

        // Day 4 closes: the loans due before it are overdue, and the process manager sends the notices.
        let all = try await loans.rows()
        let overdue = all.filter { $0.value.due < 4 }.map {
            Desk.OverdueLoan(book: $0.key, member: $0.value.member)
        }
        _ = try await desk.send(.closeDay(4, overdue: overdue), to: Desk.streamID)
        let runner = ProjectionRunner(projection: OverdueNotices(members: members), store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            try await runner.waitUntilCaughtUp()
            group.cancelAll()
        }
        for member in ["ada", "alan"] {
            let notices = try await members.load(Member.streamID(member)).state.notices
            lines.append("notices to \(member): " + notices.joined(separator: ", "))
        }

        _ = try await members.send(.giveBack(book: "dune"), to: Member.streamID("ada"))
        _ = try await books.send(.giveBack(member: "ada"), to: Book.streamID("dune"))
        try await loans.waitUntilCaughtUp(timeout: .seconds(30))
        var rows: [String: Loans.Row] = [:]
        for entry in try await loans.rows() { rows[entry.key] = entry.value }
        lines.append("on loan at the end: " + rows.keys.sorted().joined(separator: ", "))

        let log = try await store.readAll(after: 0, limit: 1000).map(\.eventType)
        await dispatcher.shutdown()
        return Outcome(loans: rows, log: log, report: lines.joined(separator: "\n"))
    }
}

extension InMemoryEventStore.Configuration {
    /// An in-memory store's configuration with the library's read models.
    static var library: Self {
        var configuration = Self()
        configuration.readModels = LibraryExample.readModels
        return configuration
    }
}

extension SQLiteEventStore.Configuration {
    /// An SQLite store's configuration with the library's read models.
    static var library: Self {
        var configuration = Self()
        configuration.readModels = LibraryExample.readModels
        return configuration
    }
}

extension PostgresEventStore.Configuration {
    /// A PostgreSQL store's configuration for the server at `url`, with the library's read models.
    static func library(url: String) throws -> Self {
        var configuration = try Self(url: url)
        configuration.readModels = LibraryExample.readModels
        return configuration
    }
}
