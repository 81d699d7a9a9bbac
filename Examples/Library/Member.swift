import Whizbang

/// A member of the library: the books they hold, at most ``loanLimit`` at once, and the overdue notices sent to them.
///
/// The limit holds under any concurrency because every command to one member runs in that member's serial lane:
/// two `borrow` commands for one member are decided one after the other, each against the state the other left.
enum Member: Aggregate {
    static let loanLimit = 2

    struct State: Codable, Sendable, Equatable {
        var name: String?
        var loans: [String] = []
        var notices: [String] = []  // "book@day" of each notice sent
    }

    enum Command: Sendable {
        case join(name: String)
        case borrow(book: String)
        case giveBack(book: String)
        case sendOverdueNotice(book: String, day: Int)
    }

    enum Event: EventEnumeration, Equatable {
        case joined(MemberJoined)
        case borrowed(LoanTaken)
        case gaveBack(LoanEnded)
        case noticed(OverdueNoticeSent)

        var payload: any EventPayload {
            switch self {
            case .joined(let payload): payload
            case .borrowed(let payload): payload
            case .gaveBack(let payload): payload
            case .noticed(let payload): payload
            }
        }
    }

    struct MemberJoined: EventPayload, Equatable { var name: String }
    struct LoanTaken: EventPayload, Equatable { var book: String }
    struct LoanEnded: EventPayload, Equatable { var book: String }
    struct OverdueNoticeSent: EventPayload, Equatable { var book: String, day: Int }

    enum Refusal: Error, Equatable {
        case notAMember
        case loanLimitReached(limit: Int)
    }

    static let initialState = State()

    static let events = EventRegistry<Event>(Event.joined, Event.borrowed, Event.gaveBack, Event.noticed)

    static func streamID(_ id: String) -> StreamID { StreamID("member-\(id)") }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .joined(let joined): state.name = joined.name
        case .borrowed(let taken): state.loans.append(taken.book)
        case .gaveBack(let ended): state.loans.removeAll { $0 == ended.book }
        case .noticed(let notice): state.notices.append("\(notice.book)@\(notice.day)")
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .join(let name):
            return state.name == nil ? [.joined(MemberJoined(name: name))] : []
        case .borrow(let book):
            guard state.name != nil else { throw Refusal.notAMember }
            if state.loans.contains(book) { return [] }
            guard state.loans.count < loanLimit else { throw Refusal.loanLimitReached(limit: loanLimit) }
            return [.borrowed(LoanTaken(book: book))]
        case .giveBack(let book):
            return state.loans.contains(book) ? [.gaveBack(LoanEnded(book: book))] : []
        case .sendOverdueNotice(let book, let day):
            // Idempotent: a notice redelivered after a crash records nothing.
            return state.notices.contains("\(book)@\(day)") ? [] : [.noticed(OverdueNoticeSent(book: book, day: day))]
        }
    }
}
