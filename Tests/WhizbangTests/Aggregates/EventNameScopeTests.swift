import Foundation
import Testing
import Whizbang

/// Two bounded contexts, each with an aggregate named `Account` that stores an event named "Opened".
enum Banking {
    enum Account: Aggregate {
        struct State: Codable, Sendable { var balance = 0 }
        enum Command: Sendable { case open(Int) }
        enum Event: Sendable { case opened(Opened) }
        struct Opened: Codable, Sendable { var deposit: Int }

        static let initialState = State()
        static let events = EventRegistry<Event>()
            .registering("Opened", Opened.self, embed: Event.opened) { if case .opened(let e) = $0 { e } else { nil } }
        static func evolve(_ state: State, _ event: Event) -> State {
            switch event { case .opened(let opened): State(balance: opened.deposit) }
        }
        static func decide(_ command: Command, _ state: State) throws -> [Event] {
            switch command { case .open(let deposit): [.opened(Opened(deposit: deposit))] }
        }
    }
}

enum Billing {
    enum Account: Aggregate {
        struct State: Codable, Sendable { var plan = "" }
        enum Command: Sendable { case open(String) }
        enum Event: Sendable { case opened(Opened) }
        struct Opened: Codable, Sendable { var plan: String }

        static let initialState = State()
        static let events = EventRegistry<Event>()
            .registering("Opened", Opened.self, embed: Event.opened) { if case .opened(let e) = $0 { e } else { nil } }
        static func evolve(_ state: State, _ event: Event) -> State {
            switch event { case .opened(let opened): State(plan: opened.plan) }
        }
        static func decide(_ command: Command, _ state: State) throws -> [Event] {
            switch command { case .open(let plan): [.opened(Opened(plan: plan))] }
        }
    }
}

/// `checkEventNames()` tells aggregates apart by their full type names.
@Suite("Event names across aggregates of one short name")
struct EventNameScopeTests {
    /// `Banking.Account` and `Billing.Account` both store "Opened". The check keyed aggregates by their short name
    /// (`"Account"` for both), took the second for the first and skipped it, so the collision went unreported.
    @Test func twoAggregatesOfTheSameShortNameThatStoreOneEventNameCollide() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        _ = dispatcher.aggregate(Banking.Account.self)
        _ = dispatcher.aggregate(Billing.Account.self)
        #expect {
            try dispatcher.checkEventNames()
        } throws: { error in
            guard let collision = error as? EventNameCollision, let name = collision.names.first else { return false }
            return collision.names.count == 1 && name.typeName == "Opened" && name.aggregates.count == 2
                && name.aggregates.allSatisfy { $0.hasSuffix(".Banking.Account") || $0.hasSuffix(".Billing.Account") }
        }
    }

    /// The same two aggregates under different short names are reported too.
    @Test func twoAggregatesOfDifferentNamesThatStoreOneEventNameCollide() async throws {
        let dispatcher = Dispatcher(store: InMemoryEventStore())
        _ = dispatcher.aggregate(Banking.Account.self)
        _ = dispatcher.aggregate(BillingAccount.self)
        #expect(throws: EventNameCollision.self) { try dispatcher.checkEventNames() }
    }
}

/// Billing's account under a name of its own, for the comparison.
enum BillingAccount: Aggregate {
    typealias State = Billing.Account.State
    typealias Command = Billing.Account.Command
    typealias Event = Billing.Account.Event
    static let initialState = State()
    static let events = Billing.Account.events
    static func evolve(_ state: State, _ event: Event) -> State { Billing.Account.evolve(state, event) }
    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        try Billing.Account.decide(command, state)
    }
}
