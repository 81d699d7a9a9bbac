/// An event-sourced aggregate, written as a decider: a state rebuilt from events, and a decision that turns a command
/// into new events.
///
/// An aggregate is a namespace of pure functions; it holds no instance data. Its state is a value rebuilt by folding
/// ``evolve(_:_:)`` over the events of its stream, starting from ``initialState``. ``decide(_:_:)`` receives a command
/// and the current state and returns the events that record the decision, or throws a domain error to reject the
/// command, in which case nothing is written.
///
/// ```swift
/// enum Account: Aggregate {
///     struct State: Codable, Sendable { var balance = 0 }
///     enum Command: Sendable { case deposit(Int), withdraw(Int) }
///     enum Event: Sendable { case deposited(Deposited), withdrawn(Withdrawn) }
///     struct InsufficientFunds: Error {}
///
///     static let initialState = State()
///     static let events = EventRegistry<Event>()
///         .registering("Deposited", Deposited.self, embed: Event.deposited) {
///             if case .deposited(let event) = $0 { event } else { nil }
///         }
///         .registering("Withdrawn", Withdrawn.self, embed: Event.withdrawn) {
///             if case .withdrawn(let event) = $0 { event } else { nil }
///         }
///
///     static func evolve(_ state: State, _ event: Event) -> State { ... }
///     static func decide(_ command: Command, _ state: State) throws -> [Event] { ... }
/// }
/// ```
public protocol Aggregate: Sendable {
    /// The aggregate's state; `Codable` so that it can be snapshotted.
    associatedtype State: Codable & Sendable
    /// The commands the aggregate decides on.
    associatedtype Command: Sendable
    /// The events the aggregate records.
    associatedtype Event: Sendable

    /// The state of an aggregate whose stream has no events.
    static var initialState: State { get }

    /// The registry that names, encodes and decodes the aggregate's events. Define it as a `static let` so that it is
    /// built once.
    static var events: EventRegistry<Event> { get }

    /// A stable name for the state's shape, stored with snapshots so that a snapshot of an older shape is ignored
    /// rather than misread. Default: the aggregate's type name followed by `.State.v1`; change the version when
    /// ``State`` changes incompatibly.
    static var snapshotType: String { get }

    /// Returns the state after `event`. Must be pure and total: it is also run when the aggregate is reloaded.
    static func evolve(_ state: State, _ event: Event) -> State

    /// Decides what a command does given the current state: the events to record, or a thrown domain error that
    /// rejects the command and writes nothing. An empty array accepts the command without recording anything.
    static func decide(_ command: Command, _ state: State) throws -> [Event]
}

extension Aggregate {
    /// The aggregate's type name followed by `.State.v1`, such as `"Account.State.v1"`.
    public static var snapshotType: String { "\(Self.self).State.v1" }

    /// Folds `events` over `state`.
    @inlinable
    public static func evolve<Events: Sequence<Event>>(_ state: State, _ events: Events) -> State {
        events.reduce(state, evolve)
    }
}
