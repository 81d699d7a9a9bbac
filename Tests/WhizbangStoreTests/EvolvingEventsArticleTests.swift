import Foundation
import Testing
import Whizbang
import WhizbangStore

/// The code of the article "Evolving your events" (`Sources/Whizbang/Docs.docc/EvolvingYourEvents.md`), compiled and
/// run against a database that version-1 code wrote. Keep the two in step: change one, change the other.
// Serialized: each test holds a store's connections or a child process, and the suites of the package start together;
// one at a time keeps this suite's share of the process's open files small.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct EvolvingEventsArticleTests {
    @Test func aStreamWrittenByVersionOneCodeLoadsUnderVersionThreeCode() async throws {
        try await withFixtureCopy(LibraryFixture.name) { copyOfTheFixture in
            let store = try await SQLiteEventStore.open(path: copyOfTheFixture)
            defer { store.close() }
            let repository = Repository<Member, SQLiteEventStore>(store: store)
            let ada = try await repository.load("member-ada")
            #expect(ada.state == Member.State(fullName: "Ada Lovelace", tier: "standard", onLoan: [], lost: ["emma"]))
            #expect(ada.version == 5)
            let grace = try await repository.load("member-grace")
            #expect(grace.state == Member.State(fullName: "Grace Hopper", tier: "standard", onLoan: [], lost: []))
            // Every event of the file was stored before versions were, and reads as version 1.
            let stored = try await store.readAll(after: 0, limit: 100)
            #expect(stored.count == 6)
            #expect(stored.allSatisfy { $0.schemaVersion == 1 })
        }
    }

    @Test func newEventsAreWrittenAtTheCurrentVersionBesideTheOldOnes() async throws {
        try await withFixtureCopy(LibraryFixture.name) { path in
            let store = try await SQLiteEventStore.open(path: path)
            defer { store.close() }
            let repository = Repository<Member, SQLiteEventStore>(store: store)
            let grace = try await repository.load("member-grace")
            _ = try await repository.save(
                [.registered(MemberRegistered(fullName: "Grace B. Hopper", tier: "gold")), .borrowed(.init(book: "sicp"))],
                after: grace)
            let stored = try await store.readStream("member-grace", from: 1, direction: .forwards, limit: 10)
            #expect(stored.map(\.eventType) == ["MemberRegistered", "MemberRegistered", "BookBorrowed"])
            #expect(stored.map(\.schemaVersion) == [1, 3, 1])
            repository.invalidateAll()
            let reloaded = try await repository.load("member-grace")
            #expect(
                reloaded.state
                    == Member.State(fullName: "Grace B. Hopper", tier: "gold", onLoan: ["sicp"], lost: []))
        }
    }

    @Test(arguments: [(true, Member.Event.returned(.init(book: "dune"))), (false, .lost(.init(book: "dune")))])
    func theSplitEventReadsAsOneOfTheTwo(returned: Bool, expected: Member.Event) throws {
        let data = Data(#"{"book":"dune","returned":\#(returned)}"#.utf8)
        #expect(try Member.events.decode(typeName: "LoanEnded", schemaVersion: 1, data: data) == expected)
    }

    @Test func theRenamedFieldReadsAtEveryVersion() throws {
        let expected = Member.Event.registered(MemberRegistered(fullName: "Ada", tier: "standard"))
        #expect(try Member.events.decode(typeName: "MemberRegistered", schemaVersion: 1, data: Data(#"{"name":"Ada"}"#.utf8)) == expected)
        #expect(
            try Member.events.decode(typeName: "MemberRegistered", schemaVersion: 2, data: Data(#"{"fullName":"Ada"}"#.utf8))
                == expected)
        #expect(try Member.events.eventData(for: expected).schemaVersion == 3)
    }
}

// The article's types.

// Version 1, as it was stored: never change these bytes' meaning.
struct MemberRegisteredV1: Codable, Sendable {
    var name: String
}
struct LoanEndedV1: Codable, Sendable {
    var book: String
    var returned: Bool
}

struct MemberRegisteredV2: Codable, Sendable {
    var fullName: String
}

struct MemberRegistered: EventPayload, Equatable {
    static let eventSchemaVersion = 3
    var fullName: String
    var tier: String
}

struct BookBorrowed: EventPayload, Equatable { var book: String }
struct BookReturned: EventPayload, Equatable { var book: String }
struct BookLost: EventPayload, Equatable { var book: String }

/// A library member: who they are and which books they hold.
enum Member: Aggregate {
    struct State: Codable, Sendable, Equatable {
        var fullName = ""
        var tier = ""
        var onLoan: [String] = []
        var lost: [String] = []
    }

    enum Command: Sendable { case borrow(String) }

    enum Event: EventEnumeration, Equatable {
        case registered(MemberRegistered)
        case borrowed(BookBorrowed)
        case returned(BookReturned)
        case lost(BookLost)

        var payload: any EventPayload {
            switch self {
            case .registered(let payload): payload
            case .borrowed(let payload): payload
            case .returned(let payload): payload
            case .lost(let payload): payload
            }
        }
    }

    static let initialState = State()

    static let events = EventRegistry<Event>(Event.registered, Event.borrowed, Event.returned, Event.lost)
        .upcasting("MemberRegistered", from: 2, MemberRegisteredV2.self, to: MemberRegistered.self) { old in
            MemberRegistered(fullName: old.fullName, tier: "standard")
        }
        .upcasting("MemberRegistered", from: 1, MemberRegisteredV1.self, to: MemberRegisteredV2.self) { old in
            MemberRegisteredV2(fullName: old.name)
        }
        .upcasting("LoanEnded", from: 1, LoanEndedV1.self) { old in
            old.returned ? .returned(BookReturned(book: old.book)) : .lost(BookLost(book: old.book))
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .registered(let registered):
            state.fullName = registered.fullName
            state.tier = registered.tier
        case .borrowed(let borrowed):
            state.onLoan.append(borrowed.book)
        case .returned(let returned):
            state.onLoan.removeAll { $0 == returned.book }
        case .lost(let lost):
            state.onLoan.removeAll { $0 == lost.book }
            state.lost.append(lost.book)
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .borrow(let book): [.borrowed(BookBorrowed(book: book))]
        }
    }
}

/// The database in `Fixtures/`: six events of two members (and the sample's import checkpoint), stored by the code of
/// store schema version 2, before events carried schema versions (commit 03bd5b6, `WhizbangSample import --input
/// library-v1.jsonl` in a release build). Never rewrite it: it is what old code left on disk.
enum LibraryFixture {
    static let name = "library-v1.sqlite"
}

/// Runs `body` with a copy of a fixture database in a temporary directory: opening a store migrates the file in
/// place, and the fixture must stay as the old code wrote it.
func withFixtureCopy<Result>(_ name: String, _ body: (String) async throws -> Result) async throws -> Result {
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(name)
    return try await withTemporaryDirectory { directory in
        let copy = directory.appendingPathComponent(name)
        try FileManager.default.copyItem(at: fixture, to: copy)
        return try await body(copy.path)
    }
}
