extension EventRegistry where Event: EventEnumeration {
    /// A registry of every case of an ``EventEnumeration``, each stored as JSON under its payload type's
    /// ``EventPayload/eventTypeName``.
    ///
    /// ```swift
    /// static let events = EventRegistry<Event>(Event.opened, Event.deposited, Event.withdrawn)
    /// ```
    ///
    /// Two cases whose payload types have the same name are a programmer error that the registry keeps in
    /// ``duplicateTypeNames`` (the later case wins, as with ``registering(_:_:embed:extract:)``); the dispatcher
    /// reports it at start with the other name collisions (``Dispatcher/checkEventNames()``). Add upcasters for older
    /// names with ``upcasting(_:_:_:)`` as usual.
    ///
    /// - Parameter cases: the enum's case constructors, one per payload type, such as `Event.deposited`.
    public init<each Payload: EventPayload>(_ cases: repeat @escaping @Sendable (each Payload) -> Event) {
        self.init()
        repeat addCase(each cases)
    }

    private mutating func addCase<Payload: EventPayload>(_ embed: @escaping @Sendable (Payload) -> Event) {
        self = registering(Payload.eventTypeName, Payload.self, embed: embed) { $0.payload as? Payload }
    }
}
