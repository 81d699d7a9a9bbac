/// What a PostgreSQL schema holds, seen by an event store: whether it exists, whether a store is installed there,
/// and which of its tables, views, sequences and functions are not the store's.
///
/// Get one with ``PostgresEventStore/inspectSchema(configuration:)``. A caller that wants to start over removes the
/// store with ``PostgresEventStore/dropStoreTables(configuration:)``, which touches only the store's own objects; it
/// refuses to when ``otherObjects`` is not empty, and tells the user what they are.
public struct PostgresStoreSchema: Sendable, CustomStringConvertible {
    /// The schema's name.
    public let schema: String
    /// Whether the schema exists.
    public let exists: Bool
    /// Whether a store is installed there: the tables of its first migration, and a `schema_version` table that
    /// records its version (a `schema_version` table alone may be another application's).
    public let holdsStore: Bool
    /// The names of the objects in the schema, or attached to the store's tables, that the store did not create
    /// (such as `invoices`, `column tenant on events` or `publication cdc of events`), and of the objects in other
    /// schemas that depend on what the schema holds (such as `view public.totals, which depends on table
    /// ledger.events`), sorted; empty when there are none.
    public let otherObjects: [String]
    /// How many stores ran on the schema when it was inspected, on this server, in this process and others: the
    /// listening connections that hold the schema's use lock (a store between two connections does not count, and a
    /// connection whose client is gone counts until the server ends its session). Dropping or replacing the store's
    /// tables is refused while any runs.
    public let runningStores: Int

    /// Whether the schema holds a store and nothing else: dropping the store's tables then leaves nobody's data
    /// behind and removes nobody's.
    public var holdsOnlyTheStore: Bool { holdsStore && otherObjects.isEmpty }

    /// What the schema holds, in words for a person.
    public var description: String {
        guard exists else { return "schema \(schema) does not exist" }
        let others = otherObjects.prefix(5).joined(separator: ", ") + (otherObjects.count > 5 ? ", …" : "")
        switch (holdsStore, otherObjects.isEmpty) {
        case (true, true): return "schema \(schema) holds a Whizbang store"
        case (true, false): return "schema \(schema) holds a Whizbang store and objects that are not its own (\(others))"
        case (false, true): return "schema \(schema) is empty"
        case (false, false): return "schema \(schema) holds objects that are not a Whizbang store's (\(others))"
        }
    }
}
