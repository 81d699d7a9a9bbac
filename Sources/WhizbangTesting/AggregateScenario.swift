public import Whizbang

/// A given-when-then test of an aggregate's decisions: given the events already in its stream, when a command is
/// decided, then these events are recorded — or this error is thrown.
///
/// Everything runs through the aggregate's pure functions: the state is `Aggregate/initialState` with
/// `Aggregate/evolve(_:_:)` folded over the given events, and the command goes to `Aggregate/decide(_:_:)`. No
/// store is involved. Expectations throw ``ScenarioFailure``, so the kit works under any test framework:
///
/// ```swift
/// @Test func withdrawingTooMuchIsRejected() throws {
///     try Account.given([.opened(Opened()), .deposited(Deposited(amount: 10))])
///         .when(.withdraw(amount: 50))
///         .thenThrows { $0 is InsufficientFunds }
/// }
/// ```
public struct AggregateScenario<A: Aggregate>: Sendable {
    /// The events already in the aggregate's stream, oldest first.
    public let history: [A.Event]

    /// A scenario whose stream holds `history`.
    public init(given history: [A.Event] = []) {
        self.history = history
    }

    /// A scenario whose stream holds `events`.
    public static func given(_ events: [A.Event]) -> AggregateScenario {
        AggregateScenario(given: events)
    }

    /// A scenario with `events` appended to the history.
    public func and(_ events: [A.Event]) -> AggregateScenario {
        AggregateScenario(given: history + events)
    }

    /// The aggregate's state after the history.
    public var state: A.State {
        A.evolve(A.initialState, history)
    }

    /// Decides `command` on the state after the history; check the outcome with one of the `then…` methods.
    public func when(_ command: A.Command) -> Outcome {
        let state = self.state
        return Outcome(stateBefore: state, result: Result { try A.decide(command, state) })
    }
}

extension Aggregate {
    /// Starts a given-when-then scenario for this aggregate whose stream holds `events`.
    public static func given(_ events: [Event]) -> AggregateScenario<Self> {
        AggregateScenario(given: events)
    }
}
