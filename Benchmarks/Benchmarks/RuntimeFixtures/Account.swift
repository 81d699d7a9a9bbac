package import Foundation
package import Whizbang

/// A bank account, the shape of the ledger workload: open, deposit, withdraw.
package enum Account: Aggregate {
    package struct State: Codable, Sendable {
        package var isOpen = false
        package var balance = 0
        package init() {}
    }

    package enum Command: Sendable {
        case open(Int)
        case deposit(Int)
        case withdraw(Int)
    }

    package enum Event: Sendable {
        case opened(Opened)
        case deposited(Deposited)
        case withdrawn(Withdrawn)
    }

    package struct Opened: Codable, Sendable { package var initialDeposit: Int }
    package struct Deposited: Codable, Sendable { package var amount: Int }
    package struct Withdrawn: Codable, Sendable { package var amount: Int }

    package struct Rejected: Error { package var reason: String }

    package static let initialState = State()

    /// The events with a hand-written codec, as a service on a hot path registers them (the sample does the same).
    package static let events = EventRegistry<Event>()
        .registering(
            "Opened", codec: AmountCodec(key: "initialDeposit", make: Opened.init, value: \.initialDeposit),
            embed: Event.opened
        ) { if case .opened(let event) = $0 { event } else { nil } }
        .registering(
            "Deposited", codec: AmountCodec(key: "amount", make: Deposited.init, value: \.amount),
            embed: Event.deposited
        ) { if case .deposited(let event) = $0 { event } else { nil } }
        .registering(
            "Withdrawn", codec: AmountCodec(key: "amount", make: Withdrawn.init, value: \.amount),
            embed: Event.withdrawn
        ) { if case .withdrawn(let event) = $0 { event } else { nil } }

    /// The same events through the default JSON codec (Foundation's `JSONEncoder`).
    package static let jsonEvents = EventRegistry<Event>()
        .registering("Opened", Opened.self, embed: Event.opened) {
            if case .opened(let event) = $0 { event } else { nil }
        }
        .registering("Deposited", Deposited.self, embed: Event.deposited) {
            if case .deposited(let event) = $0 { event } else { nil }
        }
        .registering("Withdrawn", Withdrawn.self, embed: Event.withdrawn) {
            if case .withdrawn(let event) = $0 { event } else { nil }
        }

    package static func evolve(_ state: State, _ event: Event) -> State {
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

    package static func decide(_ command: Command, _ state: State) throws -> [Event] {
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

/// ``Account`` with its events written by Foundation's `JSONEncoder`: what the default registration costs.
package enum JSONAccount: Aggregate {
    package typealias State = Account.State
    package typealias Command = Account.Command
    package typealias Event = Account.Event

    package static let initialState = Account.initialState
    package static let events = Account.jsonEvents

    package static func evolve(_ state: State, _ event: Event) -> State { Account.evolve(state, event) }
    package static func decide(_ command: Command, _ state: State) throws -> [Event] { try Account.decide(command, state) }
}

/// Writes and reads payloads of one integer field, `{"key":42}`, by hand.
package struct AmountCodec<Payload: Sendable>: EventPayloadCodec {
    let make: @Sendable (Int) -> Payload
    let value: @Sendable (Payload) -> Int
    private let prefix: [UInt8]

    package init(key: String, make: @escaping @Sendable (Int) -> Payload, value: @escaping @Sendable (Payload) -> Int) {
        self.make = make
        self.value = value
        self.prefix = Array("{\"\(key)\":".utf8)
    }

    package func encode(_ payload: Payload) throws -> Data {
        var bytes = prefix
        bytes.append(contentsOf: String(value(payload)).utf8)
        bytes.append(UInt8(ascii: "}"))
        return Data(bytes)
    }

    package func decode(_ data: Data) throws -> Payload {
        guard data.count > prefix.count + 1, data.starts(with: prefix), data.last == UInt8(ascii: "}"),
            let amount = Int(String(decoding: data.dropFirst(prefix.count).dropLast(), as: UTF8.self))
        else { throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not {\"key\":integer}")) }
        return make(amount)
    }
}
