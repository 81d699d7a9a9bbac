import Logging
import PostgresNIO
import Whizbang

extension PostgresEventStore {
    /// The schema version of the store in `configuration`'s schema, or `nil` when the schema holds no store (or does
    /// not exist). Connects on a connection of its own; no store needs to run. Each wait for a lock and each
    /// statement takes at most ``Configuration/requestTimeout``.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for an invalid configuration, `unavailable` (retryable) when
    ///   the server did not answer within ``Configuration/requestTimeout``, or the server's refusal.
    public static func installedSchemaVersion(configuration: Configuration) async throws -> Int? {
        try configuration.validate()
        return try await withOwnConnection(configuration) { connection, logger in
            // The proof a starting store asks for: another application's `schema_version` table is not a store's.
            try await PostgresSchema.storeVersionIfAny(connection, schema: configuration.schema, logger: logger)
                .map(Int.init)
        }
    }

    /// Drops `configuration`'s schema with the store in it — every event, checkpoint and snapshot — when it holds
    /// nothing else, in one transaction: ``dropStoreTables(configuration:)``, then the schema. A schema that holds
    /// anything the store did not create (a table, a view, a function; an index or trigger of someone else's on the
    /// store's tables), or that something elsewhere depends on (a view in another schema over the events), is refused
    /// and left as it was. Stop the stores that use it first.
    ///
    /// Only a schema the store created is dropped: its first migration creates the schema when it is missing, and
    /// marks it with a comment. Any other schema is not the store's, and stays as it is, with its comment and grants:
    /// from one an operator made for the store (or `public`) only the store is dropped; one that holds no store is
    /// left untouched, as is a schema that does not exist. A schema the store created and that is empty (its tables
    /// dropped by ``dropStoreTables(configuration:)``) is dropped. Stores created before the mark was introduced
    /// left none: their schema stays. A schema the store created on which someone gave privileges since (`GRANT
    /// USAGE ON SCHEMA` to another role, `ALTER DEFAULT PRIVILEGES IN SCHEMA`), which would go with it, is refused
    /// and left as it was, its store too.
    ///
    /// Each wait for a lock (a backup that reads the tables) and each statement take at most
    /// ``Configuration/requestTimeout``; the schema is then left as it was. A store that runs on the schema, in this
    /// process or another, makes the drop refuse.
    ///
    /// - Returns: Whether the schema was dropped: `false` when the store did not create it (its store, if any, was
    ///   dropped) or it did not exist.
    /// - Throws: `EventStoreError` — `invalidArgument` for an invalid configuration, a schema that holds what is
    ///   not the store's (the message names it; nothing is dropped), privileges given on a schema the store created
    ///   (named too; nothing is dropped) or a store that runs on it, `unavailable`
    ///   (retryable) when a lock or a statement took longer than ``Configuration/requestTimeout``, or the server's
    ///   refusal (among them a dependency elsewhere; nothing is dropped).
    @discardableResult
    public static func dropSchema(configuration: Configuration) async throws -> Bool {
        try await dropStoreTables(configuration: configuration, droppingSchema: true)
    }

    /// The bytes the store's tables and their indexes take in the database.
    ///
    /// - Throws: `EventStoreError` — `closed`, or a storage failure.
    public func storageBytes() async throws -> Int {
        try await waitUntilReady()
        try lifecycle.beginOperation()
        defer { lifecycle.endOperation() }
        do {
            let schema = configuration.schema
            let logger = configuration.logger
            return try await runner.withConnection { connection in
                let rows = try await connection.rows(
                    """
                    SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = \(schema) AND c.relkind = 'r'
                        AND c.relname = ANY(\(Self.ownTables))
                    """,
                    logger: logger
                )
                return Int(try rows.first?.decode(Int64.self) ?? 0)
            }
        } catch {
            throw runner.failure(error, closed: lifecycle.isClosed)
        }
    }
}
