import Logging
import Synchronization

extension Dispatcher {
    /// Throws if the event registries of the aggregates this dispatcher has handles for store one type name for more
    /// than one kind of event across aggregates. (A name registered twice in one registry stops the program when the
    /// registry is built; see ``EventRegistry``.)
    ///
    /// ``run()`` calls it before serving, so a service group reports a collision at start; call it yourself after
    /// creating the handles when the dispatcher runs without one.
    ///
    /// - Throws: ``EventNameCollision`` listing every colliding name and the aggregates that register it.
    public func checkEventNames() throws(EventNameCollision) {
        if let collision = eventNames.withLock({ $0.collision }) { throw collision }
    }

    /// Records the type names of `A`'s registry, and logs a warning for any that collide.
    func registerEventNames<A: Aggregate>(of aggregate: A.Type) {
        let registry = A.events
        // The full name: two aggregates of one short name in different modules or scopes are two aggregates.
        let name = String(reflecting: A.self)
        let colliding = eventNames.withLock {
            $0.add(aggregate: name, typeNames: registry.typeNames, repeated: [])
        }
        guard !colliding.isEmpty else { return }
        logger.warning(
            "event type names registered more than once",
            metadata: ["aggregate": "\(name)", "names": "\(colliding.sorted())"])
    }
}
