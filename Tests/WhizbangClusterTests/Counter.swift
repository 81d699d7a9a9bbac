import Foundation
import Whizbang
import WhizbangCluster

/// A counter that refuses to go below zero: the aggregate of the cluster tests.
enum Counter: Aggregate {
    struct State: Codable, Hashable, Sendable { var value = 0 }
    enum Command: Codable, Hashable, Sendable {
        case add(Int)
        case subtract(Int)
        /// Adds the amount twice, in two events.
        case addTwice(Int)
    }
    enum Event: Sendable {
        case added(Amount)
        case subtracted(Amount)
    }
    struct Amount: Codable, Hashable, Sendable { var amount: Int }
    struct BelowZero: Error, CustomStringConvertible {
        var description: String { "the counter would go below zero" }
    }

    static let initialState = State()
    static let events = EventRegistry<Event>()
        .registering("Added", Amount.self, embed: Event.added) { if case .added(let amount) = $0 { amount } else { nil } }
        .registering("Subtracted", Amount.self, embed: Event.subtracted) {
            if case .subtracted(let amount) = $0 { amount } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        switch event {
        case .added(let amount): State(value: state.value + amount.amount)
        case .subtracted(let amount): State(value: state.value - amount.amount)
        }
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .add(let amount): return [.added(Amount(amount: amount))]
        case .addTwice(let amount): return [.added(Amount(amount: amount)), .added(Amount(amount: amount))]
        case .subtract(let amount):
            guard amount <= state.value else { throw BelowZero() }
            return [.subtracted(Amount(amount: amount))]
        }
    }

    static let registry = ClusterAggregates()
        .registering(Counter.self, name: "Counter", commands: JSONCommandCodec<Counter.Command>())
}
