/// Event type names stored by more than one kind of event among the aggregates of one dispatcher, reported by
/// ``Dispatcher/checkEventNames()``.
///
/// A stored event is decoded by its type name alone, so a name that two aggregates register (or one registry
/// registers twice) makes a projection or process manager that decodes by name see one as the other, and a
/// repeated name in one registry replaces a decoder. Rename one of the payload types' stored names
/// (``EventPayload/eventTypeName``) before any such event is stored.
public struct EventNameCollision: Error, Hashable, Sendable, CustomStringConvertible {
    /// One name and who registers it.
    public struct Name: Hashable, Sendable, CustomStringConvertible {
        /// The stored type name.
        public let typeName: String
        /// The aggregate types whose registries register it, by full name (`String(reflecting:)`, such as
        /// `"Banking.Account"`), sorted; one aggregate listed alone registers it twice.
        public let aggregates: [String]

        /// Creates the entry.
        public init(typeName: String, aggregates: [String]) {
            self.typeName = typeName
            self.aggregates = aggregates
        }

        /// The name and its aggregates, such as `'Opened' (Book, Member)`.
        public var description: String {
            "'\(typeName)' (\(aggregates.joined(separator: ", ")))"
        }
    }

    /// Every colliding name, sorted by name.
    public let names: [Name]

    /// Creates the error.
    public init(names: [Name]) {
        self.names = names
    }

    /// The colliding names and their aggregates, in a sentence.
    public var description: String {
        "EventNameCollision: event type names registered more than once: "
            + names.map(\.description).joined(separator: ", ")
    }
}

/// The type names registered by the aggregates of one dispatcher, by aggregate type; a value kept under a lock.
struct EventNameIndex: Sendable {
    /// Aggregate type name → the names its registry registers.
    private var namesByAggregate: [String: Set<String>] = [:]
    /// Aggregate type name → the names its registry registers twice.
    private var repeatedByAggregate: [String: Set<String>] = [:]

    /// Records an aggregate's registry; returns the names that now collide because of it.
    mutating func add(aggregate: String, typeNames: Set<String>, repeated: Set<String>) -> Set<String> {
        guard namesByAggregate[aggregate] == nil else { return [] }
        var collisions = repeated
        for names in namesByAggregate.values { collisions.formUnion(names.intersection(typeNames)) }
        namesByAggregate[aggregate] = typeNames
        repeatedByAggregate[aggregate] = repeated
        return collisions
    }

    /// Every collision so far, or `nil` if there is none.
    var collision: EventNameCollision? {
        var owners: [String: [String]] = [:]
        for (aggregate, names) in namesByAggregate {
            for name in names { owners[name, default: []].append(aggregate) }
        }
        var colliding: [EventNameCollision.Name] = []
        for (name, aggregates) in owners {
            let repeated = aggregates.filter { repeatedByAggregate[$0]?.contains(name) == true }
            guard aggregates.count > 1 || !repeated.isEmpty else { continue }
            colliding.append(EventNameCollision.Name(typeName: name, aggregates: aggregates.sorted()))
        }
        guard !colliding.isEmpty else { return nil }
        return EventNameCollision(names: colliding.sorted { $0.typeName < $1.typeName })
    }
}
