import Whizbang

/// The front desk's day book: closing a day records the loans that were overdue at closing time, which the
/// ``OverdueNotices`` process manager turns into notices.
enum Desk: Aggregate {
    struct State: Codable, Sendable, Equatable { var lastClosedDay = 0 }

    enum Command: Sendable { case closeDay(Int, overdue: [OverdueLoan]) }

    enum Event: EventEnumeration, Equatable {
        case closed(DayClosed)

        var payload: any EventPayload {
            switch self {
            case .closed(let payload): payload
            }
        }
    }

    struct OverdueLoan: Codable, Sendable, Equatable {
        var book: String
        var member: String
    }

    struct DayClosed: EventPayload, Equatable {
        var day: Int
        var overdue: [OverdueLoan]
    }

    static let initialState = State()
    static let events = EventRegistry<Event>(Event.closed)
    static let streamID: StreamID = "desk"

    static func evolve(_ state: State, _ event: Event) -> State {
        switch event {
        case .closed(let closed): State(lastClosedDay: closed.day)
        }
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .closeDay(let day, let overdue):
            day > state.lastClosedDay ? [.closed(DayClosed(day: day, overdue: overdue))] : []
        }
    }
}
