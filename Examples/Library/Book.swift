import Whizbang

/// A copy of a book: lent to one member at a time, reserved by others meanwhile.
enum Book: Aggregate {
    struct State: Codable, Sendable, Equatable {
        var title: String?
        var lentTo: String?
        var due: Int?
        var reservedBy: [String] = []
    }

    enum Command: Sendable {
        case add(title: String)
        case lend(member: String, due: Int)
        case giveBack(member: String)
        case reserve(member: String)
    }

    enum Event: EventEnumeration, Equatable {
        case added(BookAdded)
        case lent(BookLent)
        case returned(BookReturned)
        case reserved(BookReserved)

        var payload: any EventPayload {
            switch self {
            case .added(let payload): payload
            case .lent(let payload): payload
            case .returned(let payload): payload
            case .reserved(let payload): payload
            }
        }
    }

    struct BookAdded: EventPayload, Equatable { var title: String }

    /// Version 2 of `BookLent`: version 1 called the member `borrower`. Events stored at version 1 are read through
    /// the upcaster in ``events``; new ones are written at version 2.
    struct BookLent: EventPayload, Equatable {
        static let eventSchemaVersion = 2
        var member: String
        var due: Int
    }

    /// `BookLent` as version 1 stored it.
    struct BookLentV1: Codable, Sendable {
        var borrower: String
        var due: Int
    }

    struct BookReturned: EventPayload, Equatable { var member: String }
    struct BookReserved: EventPayload, Equatable { var member: String }

    enum Refusal: Error, Equatable {
        case unknownBook
        case alreadyLent(to: String)
        case notLentTo(String)
    }

    static let initialState = State()

    static let events = EventRegistry<Event>(Event.added, Event.lent, Event.returned, Event.reserved)
        .upcasting("BookLent", from: 1, BookLentV1.self) { old in .lent(BookLent(member: old.borrower, due: old.due)) }

    static func streamID(_ id: String) -> StreamID { StreamID("book-\(id)") }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .added(let added): state.title = added.title
        case .lent(let lent):
            state.lentTo = lent.member
            state.due = lent.due
            state.reservedBy.removeAll { $0 == lent.member }
        case .returned:
            state.lentTo = nil
            state.due = nil
        case .reserved(let reserved): state.reservedBy.append(reserved.member)
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .add(let title):
            return state.title == nil ? [.added(BookAdded(title: title))] : []
        case .lend(let member, let due):
            guard state.title != nil else { throw Refusal.unknownBook }
            if state.lentTo == member { return [] }
            if let holder = state.lentTo { throw Refusal.alreadyLent(to: holder) }
            return [.lent(BookLent(member: member, due: due))]
        case .giveBack(let member):
            guard state.lentTo == member else { throw Refusal.notLentTo(member) }
            return [.returned(BookReturned(member: member))]
        case .reserve(let member):
            guard state.title != nil else { throw Refusal.unknownBook }
            return state.reservedBy.contains(member) ? [] : [.reserved(BookReserved(member: member))]
        }
    }
}
