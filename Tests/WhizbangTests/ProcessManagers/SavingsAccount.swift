import Whizbang

/// An account that money moves between. Deposits and withdrawals carry a reference (such as a transfer step), and a
/// command whose reference the account has already handled is accepted without recording anything: that is what
/// makes the commands of the transfer process manager idempotent.
enum SavingsAccount: Aggregate {
    struct State: Codable, Sendable, Equatable {
        var isOpen = false
        var isClosed = false
        var balance = 0
        var handledReferences: Set<String> = []
    }

    enum Command: Sendable {
        case open
        case deposit(amount: Int, reference: String)
        case withdraw(amount: Int, reference: String)
        case close
    }

    enum Event: Sendable, Equatable {
        case opened(Opened)
        case deposited(Deposited)
        case withdrawn(Withdrawn)
        case closed(Closed)
    }

    struct Opened: Codable, Sendable, Equatable {}
    struct Deposited: Codable, Sendable, Equatable {
        var amount: Int
        var reference: String
    }
    struct Withdrawn: Codable, Sendable, Equatable {
        var amount: Int
        var reference: String
    }
    struct Closed: Codable, Sendable, Equatable {}

    struct Rejection: Error, Equatable {
        enum Reason: String, Sendable { case alreadyOpen, notOpen, closed, insufficientFunds, invalidAmount }
        var reason: Reason
    }

    static let initialState = State()

    static let events = EventRegistry<Event>()
        .registering("AccountOpened", Opened.self, embed: Event.opened) {
            if case .opened(let event) = $0 { event } else { nil }
        }
        .registering("AccountCredited", Deposited.self, embed: Event.deposited) {
            if case .deposited(let event) = $0 { event } else { nil }
        }
        .registering("AccountDebited", Withdrawn.self, embed: Event.withdrawn) {
            if case .withdrawn(let event) = $0 { event } else { nil }
        }
        .registering("AccountClosed", Closed.self, embed: Event.closed) {
            if case .closed(let event) = $0 { event } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .opened: state.isOpen = true
        case .deposited(let deposit):
            state.balance += deposit.amount
            state.handledReferences.insert(deposit.reference)
        case .withdrawn(let withdrawal):
            state.balance -= withdrawal.amount
            state.handledReferences.insert(withdrawal.reference)
        case .closed: state.isClosed = true
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .open:
            guard !state.isOpen else { throw Rejection(reason: .alreadyOpen) }
            return [.opened(Opened())]
        case .deposit(let amount, let reference):
            // A repeat is recognised before anything else, so it is accepted even if the account changed since.
            if state.handledReferences.contains(reference) { return [] }
            try requireActive(state)
            guard amount > 0 else { throw Rejection(reason: .invalidAmount) }
            return [.deposited(Deposited(amount: amount, reference: reference))]
        case .withdraw(let amount, let reference):
            if state.handledReferences.contains(reference) { return [] }
            try requireActive(state)
            guard amount > 0 else { throw Rejection(reason: .invalidAmount) }
            guard state.balance >= amount else { throw Rejection(reason: .insufficientFunds) }
            return [.withdrawn(Withdrawn(amount: amount, reference: reference))]
        case .close:
            guard state.isOpen else { throw Rejection(reason: .notOpen) }
            return state.isClosed ? [] : [.closed(Closed())]
        }
    }

    private static func requireActive(_ state: State) throws {
        guard state.isOpen else { throw Rejection(reason: .notOpen) }
        guard !state.isClosed else { throw Rejection(reason: .closed) }
    }
}
