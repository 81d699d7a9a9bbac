import Whizbang

/// A bank account, the shape of the ledger workload: open, deposit, withdraw.
enum Account: Aggregate {
    struct State: Codable, Sendable {
        var isOpen = false
        var balance = 0
    }

    enum Command: Sendable {
        case open(Int)
        case deposit(Int)
        case withdraw(Int)
    }

    enum Event: Sendable {
        case opened(Opened)
        case deposited(Deposited)
        case withdrawn(Withdrawn)
    }

    struct Opened: Codable, Sendable { var initialDeposit: Int }
    struct Deposited: Codable, Sendable { var amount: Int }
    struct Withdrawn: Codable, Sendable { var amount: Int }

    struct Rejected: Error { var reason: String }

    static let initialState = State()

    static let events = EventRegistry<Event>()
        .registering("Opened", Opened.self, embed: Event.opened) {
            if case .opened(let event) = $0 { event } else { nil }
        }
        .registering("Deposited", Deposited.self, embed: Event.deposited) {
            if case .deposited(let event) = $0 { event } else { nil }
        }
        .registering("Withdrawn", Withdrawn.self, embed: Event.withdrawn) {
            if case .withdrawn(let event) = $0 { event } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .opened(let opened):
            state.isOpen = true
            state.balance = opened.initialDeposit
        case .deposited(let deposited):
            state.balance += deposited.amount
        case .withdrawn(let withdrawn):
            state.balance -= withdrawn.amount
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .open(let amount):
            guard !state.isOpen else { throw Rejected(reason: "already open") }
            return [.opened(Opened(initialDeposit: amount))]
        case .deposit(let amount):
            guard state.isOpen else { throw Rejected(reason: "not open") }
            return [.deposited(Deposited(amount: amount))]
        case .withdraw(let amount):
            guard state.isOpen else { throw Rejected(reason: "not open") }
            guard amount <= state.balance else { throw Rejected(reason: "insufficient funds") }
            return [.withdrawn(Withdrawn(amount: amount))]
        }
    }
}
