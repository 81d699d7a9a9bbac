import Whizbang

/// A customer order: placed, then confirmed once its stock is reserved, or rejected when some is short.
enum Order: Aggregate {
    enum Status: String, Codable, Sendable { case new, placed, confirmed, rejected }

    struct Line: Codable, Sendable, Equatable {
        var sku: String
        var quantity: Int
    }

    struct State: Codable, Sendable, Equatable {
        var status = Status.new
        var reason: String?
    }

    enum Command: Sendable {
        case place([Line])
        case confirm
        case reject(reason: String)
    }

    enum Event: Sendable, Equatable {
        case placed(Placed)
        case confirmed(Confirmed)
        case rejected(Rejected)
    }

    struct Placed: Codable, Sendable, Equatable { var lines: [Line] }
    struct Confirmed: Codable, Sendable, Equatable {}
    struct Rejected: Codable, Sendable, Equatable { var reason: String }

    /// A command that does not fit the order's status (or an order with no lines, or a product twice).
    struct InvalidCommand: Error, Equatable { var status: Status }

    static let initialState = State()

    static let events = EventRegistry<Event>()
        .registering("OrderPlaced", Placed.self, embed: Event.placed) {
            if case .placed(let event) = $0 { event } else { nil }
        }
        .registering("OrderConfirmed", Confirmed.self, embed: Event.confirmed) {
            if case .confirmed(let event) = $0 { event } else { nil }
        }
        .registering("OrderRejected", Rejected.self, embed: Event.rejected) {
            if case .rejected(let event) = $0 { event } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .placed:
            state.status = .placed
        case .confirmed:
            state.status = .confirmed
        case .rejected(let rejected):
            state.status = .rejected
            state.reason = rejected.reason
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch (command, state.status) {
        case (.place(let lines), .new) where !lines.isEmpty && Set(lines.map(\.sku)).count == lines.count:
            return [.placed(Placed(lines: lines))]
        case (.confirm, .placed): return [.confirmed(Confirmed())]
        case (.reject(let reason), .placed): return [.rejected(Rejected(reason: reason))]
        case (.confirm, .confirmed), (.reject, .rejected): return []  // a repeat: already done
        default: throw InvalidCommand(status: state.status)
        }
    }
}
