extension EventRegistry where Event: EventEnumeration {
    /// A registry of every case of an ``EventEnumeration``, each stored as JSON under its payload type's
    /// ``EventPayload/eventTypeName`` at its ``EventPayload/eventSchemaVersion``.
    ///
    /// ```swift
    /// static let events = EventRegistry<Event>(Event.opened, Event.deposited, Event.withdrawn)
    /// ```
    ///
    /// Two cases whose payload types have the same name are a programmer error that stops the program here, as
    /// with ``registering(_:_:schemaVersion:embed:extract:)``. Add upcasters for older names and versions with
    /// ``upcasting(_:from:_:_:)`` and ``upcasting(_:from:_:to:_:)`` as usual.
    ///
    /// - Parameter cases: the enum's case constructors, one per payload type, such as `Event.deposited`.
    public init<each Payload: EventPayload>(_ cases: repeat @escaping @Sendable (each Payload) -> Event) {
        self.init()
        repeat addCase(each cases)
    }

    private mutating func addCase<Payload: EventPayload>(_ embed: @escaping @Sendable (Payload) -> Event) {
        self = registering(
            Payload.eventTypeName, Payload.self, schemaVersion: Payload.eventSchemaVersion, embed: embed
        ) { $0.payload as? Payload }
    }
}
