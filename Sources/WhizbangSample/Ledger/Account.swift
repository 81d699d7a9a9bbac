import Whizbang

/// A bank account: opened once with a deposit, then deposits and withdrawals; a withdrawal larger than the balance
/// is rejected. Transfers move money between accounts in steps (see ``Transfer``).
enum Account: Aggregate {
    struct State: Codable, Hashable, Sendable {
        var isOpen = false
        var balance = 0
    }

    enum Command: Sendable {
        case open(initialDeposit: Int)
        case deposit(Int)
        case withdraw(Int)
        case debit(transfer: String, amount: Int)
        case credit(transfer: String, amount: Int)
        case refund(transfer: String, amount: Int)
    }

    enum Event: Sendable, Hashable {
        case opened(Opened)
        case deposited(Deposited)
        case withdrawn(Withdrawn)
        case transferDebited(TransferDebited)
        case transferCredited(TransferCredited)
        case transferRefunded(TransferRefunded)
    }

    static let initialState = State()

    /// Opened, Deposited and Withdrawn use the hand-written ``AmountCodec``; the rarer transfer events use JSON.
    static let events = EventRegistry<Event>()
        .registering(
            "Opened", codec: AmountCodec(key: "initialDeposit", make: { Opened(initialDeposit: $0) }, value: \.initialDeposit),
            embed: Event.opened
        ) { if case .opened(let event) = $0 { event } else { nil } }
        .registering(
            "Deposited", codec: AmountCodec(key: "amount", make: { Deposited(amount: $0) }, value: \.amount),
            embed: Event.deposited
        ) { if case .deposited(let event) = $0 { event } else { nil } }
        .registering(
            "Withdrawn", codec: AmountCodec(key: "amount", make: { Withdrawn(amount: $0) }, value: \.amount),
            embed: Event.withdrawn
        ) { if case .withdrawn(let event) = $0 { event } else { nil } }
        .registering("TransferDebited", TransferDebited.self, embed: Event.transferDebited) {
            if case .transferDebited(let event) = $0 { event } else { nil }
        }
        .registering("TransferCredited", TransferCredited.self, embed: Event.transferCredited) {
            if case .transferCredited(let event) = $0 { event } else { nil }
        }
        .registering("TransferRefunded", TransferRefunded.self, embed: Event.transferRefunded) {
            if case .transferRefunded(let event) = $0 { event } else { nil }
        }

    /// The type names of the account's events, looked up once.
    static let eventTypeNames = events.typeNames

    /// Applies an event. Wrapping arithmetic: ``decide(_:_:)`` never emits an event that overflows, and a log
    /// written elsewhere is checked by `verify`, so folding one never traps.
    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .opened(let opened):
            state.isOpen = true
            state.balance &+= opened.initialDeposit
        case .deposited(let deposited): state.balance &+= deposited.amount
        case .withdrawn(let withdrawn): state.balance &-= withdrawn.amount
        case .transferDebited(let debited): state.balance &-= debited.amount
        case .transferCredited(let credited): state.balance &+= credited.amount
        case .transferRefunded(let refunded): state.balance &+= refunded.amount
        }
        return state
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        if case .open(let initialDeposit) = command {
            guard !state.isOpen else { throw AccountRejection.alreadyOpen }
            guard initialDeposit >= 0 else { throw AccountRejection.invalidAmount(initialDeposit) }
            return [.opened(Opened(initialDeposit: initialDeposit))]
        }
        guard state.isOpen else { throw AccountRejection.notOpen }
        switch command {
        case .open: return []
        case .deposit(let amount):
            guard amount > 0 else { throw AccountRejection.invalidAmount(amount) }
            try checkRoom(for: amount, in: state)
            return [.deposited(Deposited(amount: amount))]
        case .withdraw(let amount):
            guard amount > 0 else { throw AccountRejection.invalidAmount(amount) }
            guard amount <= state.balance else {
                throw AccountRejection.insufficientFunds(balance: state.balance, amount: amount)
            }
            return [.withdrawn(Withdrawn(amount: amount))]
        case .debit(let transfer, let amount):
            guard amount > 0 else { throw AccountRejection.invalidAmount(amount) }
            guard amount <= state.balance else {
                throw AccountRejection.insufficientFunds(balance: state.balance, amount: amount)
            }
            return [.transferDebited(TransferDebited(amount: amount, transfer: transfer))]
        case .credit(let transfer, let amount):
            try checkRoom(for: amount, in: state)
            return [.transferCredited(TransferCredited(amount: amount, transfer: transfer))]
        case .refund(let transfer, let amount):
            return [.transferRefunded(TransferRefunded(amount: amount, transfer: transfer))]
        }
    }
}

extension Account {
    /// Rejects adding `amount` to a balance that would then pass `Int.max`, as an overdraft is rejected.
    static func checkRoom(for amount: Int, in state: State) throws(AccountRejection) {
        guard !state.balance.addingReportingOverflow(amount).overflow else {
            throw AccountRejection.overflow(balance: state.balance, amount: amount)
        }
    }
}

/// Why an account rejected a command; nothing is written.
enum AccountRejection: Error, Hashable, CustomStringConvertible {
    case alreadyOpen
    case notOpen
    case invalidAmount(Int)
    case insufficientFunds(balance: Int, amount: Int)
    case overflow(balance: Int, amount: Int)

    var description: String {
        switch self {
        case .alreadyOpen: "the account is already open"
        case .notOpen: "the account is not open"
        case .invalidAmount(let amount): "the amount \(amount) is not positive"
        case .insufficientFunds(let balance, let amount): "cannot withdraw \(amount) from a balance of \(balance)"
        case .overflow(let balance, let amount): "adding \(amount) to a balance of \(balance) would overflow"
        }
    }
}
