import Logging
import PostgresNIO
import Whizbang

extension PostgresEventStore {
    /// The tables a store creates in its schema.
    static let ownTables = [
        "schema_version", "streams", "events", "checkpoints", "snapshots", "read_models", "read_model_rows",
    ]
    /// The store schema version that created each table added after version 1: in a schema at an older version, a
    /// table of that name is not the store's.
    static let tablesAddedInVersion = ["read_models": 3, "read_model_rows": 3]
    /// The sequences PostgreSQL creates for the store's identity columns.
    static let ownSequences = ["streams_stream_key_seq"]
    /// The functions a store creates in its schema.
    static let ownFunctions = ["append_batch"]

    /// Looks at what `configuration`'s schema holds, without changing anything. Connects on a connection of its own;
    /// no store needs to run.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for an invalid configuration, or the server's refusal.
    public static func inspectSchema(configuration: Configuration) async throws -> PostgresStoreSchema {
        try configuration.validate()
        return try await withOwnConnection(configuration) { connection, logger in
            try await inspect(configuration.schema, on: connection, logger: logger)
        }
    }

    /// Drops the store's own tables, sequences and function from `configuration`'s schema, in one transaction,
    /// after checking in that transaction that the schema holds nothing else. The schema itself stays. Does nothing
    /// when the schema holds no store. Stop the stores that use it first.
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` when the schema holds objects that are not the store's
    ///   (nothing is dropped then; the message names them), or the server's refusal.
    public static func dropStoreTables(configuration: Configuration) async throws {
        try configuration.validate()
        let schema = configuration.schema
        let quoted = "\"\(schema)\""
        try await withOwnConnection(configuration) { connection, logger in
            try await connection.withTransaction(logger: logger) { connection in
                // The lock a migration takes: no store creates its tables while they are dropped.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockClass + 1), hashtext(\(schema)))", logger: logger)
                let found = try await inspect(schema, on: connection, logger: logger)
                guard found.holdsStore else { return }
                guard found.otherObjects.isEmpty else {
                    throw EventStoreError(.invalidArgument, message: "\(found); nothing was dropped")
                }
                for function in ownFunctions {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "DROP FUNCTION IF EXISTS \(quoted).\(function)"), logger: logger)
                }
                // RESTRICT: should anything still depend on a table, the transaction fails and nothing is dropped.
                let tables = ownTables.map { "\(quoted).\($0)" }.joined(separator: ", ")
                try await connection.query(
                    PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(tables) RESTRICT"), logger: logger)
            }
        }
    }

    static func inspect(_ schema: String, on connection: PostgresConnection, logger: Logger) async throws
        -> PostgresStoreSchema
    {
        let exists =
            try await connection.query(
                "SELECT count(*)::bigint FROM pg_namespace WHERE nspname = \(schema)", logger: logger
            ).collect().first?.decode(Int64.self) ?? 0
        guard exists == 1 else {
            return PostgresStoreSchema(schema: schema, exists: false, holdsStore: false, otherObjects: [])
        }
        var names: [String] = []
        let holdsStore: Bool
        let relations = try await connection.query(
            """
            SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            """,
            logger: logger
        ).collect()
        let decoded = try relations.map { try $0.decode((String, String).self) }
        holdsStore = decoded.contains { $0 == ("schema_version", "r") }
        let version =
            holdsStore
            ? try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0)::bigint FROM \"\(schema)\".schema_version"),
                logger: logger
            ).collect().first?.decode(Int64.self) ?? 0 : 0
        for (name, kind) in decoded {
            let isOwn =
                kind == "S"
                ? ownSequences.contains(name)
                : kind == "r" && ownTables.contains(name) && version >= Int64(tablesAddedInVersion[name] ?? 1)
            if !isOwn { names.append(kind == "S" ? "sequence \(name)" : name) }
        }
        let functions = try await connection.query(
            """
            SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = \(schema)
            """,
            logger: logger
        ).collect()
        for row in functions {
            let name = try row.decode(String.self)
            if !ownFunctions.contains(name) { names.append("function \(name)") }
        }
        return PostgresStoreSchema(schema: schema, exists: true, holdsStore: holdsStore, otherObjects: names.sorted())
    }

    static func withOwnConnection<Result: Sendable>(
        _ configuration: Configuration,
        _ body: (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = configuration.logger
        do {
            let connection = try await PostgresConnection.connect(
                configuration: configuration.connectionConfiguration(), id: 0, logger: logger)
            do {
                let result = try await body(connection, logger)
                try? await connection.close()
                return result
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw EventStoreError.from(error, server: configuration.serverDescription)
        }
    }
}
