import Foundation
import Testing
import Whizbang

/// Registries built from an event enum: names from the payload types, overrides, and name collisions reported or
/// trapped.
// Serialized: each test holds a store's connections or a child process, and the suites of the package start together;
// one at a time keeps this suite's share of the process's open files small.
@Suite(.serialized) struct EventRegistryEnumerationTests {
    @Test func namesComeFromThePayloadTypes() throws {
        #expect(Book.events.typeNames == ["BookAdded", "Lent", "Returned"])
        let encoded = try Book.events.eventData(for: .lent(.init(member: "member-1")))
        #expect(encoded.eventType == "Lent")
        #expect(encoded.schemaVersion == 1)
        #expect(String(decoding: encoded.data, as: UTF8.self) == #"{"member":"member-1"}"#)
        #expect(
            try Book.events.decode(typeName: "Lent", schemaVersion: 1, data: encoded.data)
                == .lent(.init(member: "member-1")))
    }

    @Test func anOverriddenNameIsStoredInsteadOfTheTypeName() throws {
        #expect(try Book.events.eventData(for: .added(.init(title: "Dune"))).eventType == "BookAdded")
        #expect(
            try Book.events.decode(typeName: "BookAdded", schemaVersion: 1, data: Data(#"{"title":"Dune"}"#.utf8))
                == .added(.init(title: "Dune")))
    }

    /// The derived registry writes exactly what the hand-written one of the same names writes, so an aggregate can
    /// switch to it without touching stored events.
    @Test func theDerivedRegistryStoresWhatTheHandWrittenOneStores() throws {
        let handWritten = EventRegistry<Book.Event>()
            .registering("BookAdded", Book.Added.self, embed: Book.Event.added) {
                if case .added(let event) = $0 { event } else { nil }
            }
            .registering("Lent", Book.Lent.self, embed: Book.Event.lent) {
                if case .lent(let event) = $0 { event } else { nil }
            }
            .registering("Returned", Book.Returned.self, embed: Book.Event.returned) {
                if case .returned(let event) = $0 { event } else { nil }
            }
        let events: [Book.Event] = [.added(.init(title: "Dune")), .lent(.init(member: "m")), .returned(.init())]
        for event in events {
            let derived = try Book.events.eventData(for: event)
            let written = try handWritten.eventData(for: event)
            #expect(derived.eventType == written.eventType)
            #expect(derived.schemaVersion == written.schemaVersion)
            #expect(derived.data == written.data)
        }
    }

    /// A programmer error caught when the registry is built: the registering call stops the program.
    @Test func twoPayloadTypesOfOneNameInOneRegistryStopTheProgram() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = EventRegistry<Clash.Event>(Clash.Event.first, Clash.Event.second)
        }
        let output = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(output.contains("'Happened' is registered twice"), "\(output)")
    }

    /// The trap the issue names: an upcaster under a current name and version would replace the current decoder.
    @Test func anUpcasterUnderACurrentNameAndVersionStopsTheProgram() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            struct LentV0: Decodable, Sendable { var memberID: String }
            _ = Book.events.upcasting("Lent", LentV0.self) { .lent(.init(member: $0.memberID)) }
        }
        let output = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(output.contains("at schema version 1, which is the version its current kind"), "\(output)")
    }

    @Test func anUpcasterUnderARetiredNameIsAccepted() throws {
        struct LentV0: Decodable, Sendable { var memberID: String }
        let older = Book.events.upcasting("BookLent", LentV0.self) { .lent(.init(member: $0.memberID)) }
        #expect(older.typeNames == ["BookAdded", "Lent", "Returned", "BookLent"])
        #expect(
            try older.decode(typeName: "BookLent", schemaVersion: 1, data: Data(#"{"memberID":"m"}"#.utf8))
                == .lent(.init(member: "m")))
    }

    @Test func aDispatcherReportsANameTwoAggregatesStore() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        _ = dispatcher.aggregate(Book.self)
        try dispatcher.checkEventNames()
        _ = dispatcher.aggregate(BankAccount.self)
        _ = dispatcher.aggregate(Book.self)  // a second handle for the same aggregate is no collision
        try dispatcher.checkEventNames()

        _ = dispatcher.aggregate(Member.self)
        let collision = #expect(throws: EventNameCollision.self) { try dispatcher.checkEventNames() }
        #expect(
            collision?.names == [
                .init(typeName: "Returned", aggregates: [String(reflecting: Book.self), String(reflecting: Member.self)])
            ])
        // A service group learns it at start: `run()` throws before serving.
        await #expect(throws: EventNameCollision.self) { try await dispatcher.run() }
    }

    /// A name repeated in one registry never reaches the dispatcher: the registry stops the program when it is
    /// built, the first time the aggregate is used.
    @Test func anAggregateWithANameRepeatedInItsRegistryStopsTheProgramAtFirstUse() async {
        await #expect(processExitsWith: .failure) {
            _ = Dispatcher(store: InMemoryEventStore()).aggregate(Clash.self)
        }
    }
}

/// A library book whose registry is derived from its event enum.
enum Book: Aggregate {
    struct State: Codable, Sendable { var lentTo: String? }
    enum Command: Sendable { case add(String) }

    struct Added: EventPayload, Equatable {
        static let eventTypeName = "BookAdded"
        var title: String
    }
    struct Lent: EventPayload, Equatable { var member: String }
    struct Returned: EventPayload, Equatable {}

    enum Event: EventEnumeration, Equatable {
        case added(Added)
        case lent(Lent)
        case returned(Returned)

        var payload: any EventPayload {
            switch self {
            case .added(let payload): payload
            case .lent(let payload): payload
            case .returned(let payload): payload
            }
        }
    }

    static let initialState = State()
    static let events = EventRegistry<Event>(Event.added, Event.lent, Event.returned)

    static func evolve(_ state: State, _ event: Event) -> State { state }
    static func decide(_ command: Command, _ state: State) throws -> [Event] { [] }
}

/// A member whose `Returned` collides with the book's.
enum Member: Aggregate {
    struct State: Codable, Sendable {}
    enum Command: Sendable { case join }
    struct Returned: EventPayload, Equatable { var book: String }

    enum Event: EventEnumeration, Equatable {
        case returned(Returned)
        var payload: any EventPayload {
            switch self {
            case .returned(let payload): payload
            }
        }
    }

    static let initialState = State()
    static let events = EventRegistry<Event>(Event.returned)

    static func evolve(_ state: State, _ event: Event) -> State { state }
    static func decide(_ command: Command, _ state: State) throws -> [Event] { [] }
}

/// Two payload types stored under one name.
enum Clash: Aggregate {
    struct State: Codable, Sendable {}
    enum Command: Sendable { case go }
    struct First: EventPayload { static let eventTypeName = "Happened" }
    struct Second: EventPayload { static let eventTypeName = "Happened" }

    enum Event: EventEnumeration {
        case first(First)
        case second(Second)
        var payload: any EventPayload {
            switch self {
            case .first(let payload): payload
            case .second(let payload): payload
            }
        }
    }

    static let initialState = State()
    static let events = EventRegistry<Event>(Event.first, Event.second)

    static func evolve(_ state: State, _ event: Event) -> State { state }
    static func decide(_ command: Command, _ state: State) throws -> [Event] { [] }
}
