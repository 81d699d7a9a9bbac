/// A payload type stored as one kind of event, named after the type.
///
/// Conform an aggregate's event payloads to it and the aggregate's event enum to ``EventEnumeration``, and the
/// registry is one line: ``EventRegistry/init(_:)`` takes the enum's case constructors and derives each stored name
/// from the payload type.
///
/// ## Names are stable and documented
/// The stored name is ``eventTypeName``: by default the payload type's own name, without module or enclosing types
/// (`Account.Deposited` is stored as `"Deposited"`), exactly what `String(describing:)` gives for the type. It is
/// written with every event and must never change once events are stored, so renaming a payload type needs one line
/// that keeps the old name:
///
/// ```swift
/// struct MoneyDeposited: EventPayload {
///     static let eventTypeName = "Deposited"   // the type was renamed; stored events keep the old name
///     var amount: Int
/// }
/// ```
///
/// Override the name the same way for a generic payload type, whose default name includes its arguments. Names are
/// matched across all aggregates of a store; the ``Dispatcher`` reports two aggregates that store the same name
/// (see ``Dispatcher/checkEventNames()``).
///
/// ## Versions of the shape
/// ``eventSchemaVersion`` is written with every event: 1 until the shape first changes. When a field is renamed or
/// its meaning changes, raise it, keep the old shape as a type of its own, and register an upcaster from the old
/// version (``EventRegistry/upcasting(_:from:_:to:_:)``); see "Evolving your events" in the documentation.
public protocol EventPayload: Codable, Sendable {
    /// The stable name stored with events of this type. Default: the type's name, such as `"Deposited"`.
    static var eventTypeName: String { get }
    /// The version of this type's shape, stored with every new event. Default: 1.
    static var eventSchemaVersion: Int { get }
}

extension EventPayload {
    /// The type's name without module or enclosing types, such as `"Deposited"` for `Account.Deposited`.
    public static var eventTypeName: String { String(describing: Self.self) }
    /// 1: the shape has not changed since events of this type were first stored.
    public static var eventSchemaVersion: Int { 1 }
}

/// An event enum whose cases each carry one ``EventPayload`` of a type of its own, so that its registry can be built
/// from the case constructors alone.
///
/// ```swift
/// enum Event: EventEnumeration {
///     case deposited(Deposited)
///     case withdrawn(Withdrawn)
///
///     var payload: any EventPayload {
///         switch self {
///         case .deposited(let payload): payload
///         case .withdrawn(let payload): payload
///         }
///     }
/// }
/// static let events = EventRegistry<Event>(Event.deposited, Event.withdrawn)
/// ```
public protocol EventEnumeration: Sendable {
    /// The payload of this case.
    var payload: any EventPayload { get }
}
