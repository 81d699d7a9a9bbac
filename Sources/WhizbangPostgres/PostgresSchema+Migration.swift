import Foundation
import Logging
import PostgresNIO
import Whizbang

extension PostgresSchema {
    /// Tries the schema's use lock with `function` (`pg_try_advisory_lock_shared`, `pg_try_advisory_xact_lock`)
    /// every 50 milliseconds until it is granted (`true`) or `deadline` passes (`false`). A try never queues the
    /// backend behind the lock's holder, where it would wait on after its client gave up, and hold up others.
    /// `lockClass` picks another lock of the same kind (`writerLockClass`).
    static func tryUseLock(
        _ function: String, schema: String, until deadline: ContinuousClock.Instant, on connection: PostgresConnection,
        lockClass: Int32 = useLockClass, logger: Logger
    ) async throws -> Bool {
        while true {
            let taken =
                try await connection.rows(
                    "SELECT \(unescaped: function)(\(lockClass), hashtext(\(schema)))", decoding: Bool.self,
                    logger: logger
                ).first ?? false
            if taken { return true }
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Creates the schema and its tables, or brings an older version up to date, in one transaction.
    ///
    /// A transaction-level advisory lock lets one process at a time migrate a schema. A store that finds the schema
    /// current — most starts — checks it holding that lock in shared mode: stores starting together do not wait for
    /// one another, and none reads the schema while a migration, a restore or a drop holds the lock. When this
    /// throws, the caller closes the connection, which rolls the transaction back.
    ///
    /// - Throws: `EventStoreError/Code/incompatibleSchema` when the schema was written by a newer version or holds
    ///   tables but not a store (``storeVersion(_:schema:logger:)``), before anything is written; a mapped PostgreSQL
    ///   error otherwise.
    static func migrate(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        var current = false
        try await transaction(on: connection, logger: logger) {
            try await connection.run(
                "SELECT pg_advisory_xact_lock_shared(\(lockClass + 1), hashtext(\(schema)))", logger: logger)
            current = try await storeVersion(connection, schema: schema, logger: logger) == currentVersion
        }
        if current { return }
        try await transaction(on: connection, logger: logger) {
            // Collected: a lock timeout arrives with the row, after the query has returned.
            try await connection.run(
                "SELECT pg_advisory_xact_lock(\(lockClass + 1), hashtext(\(schema)))", logger: logger
            )
            try await migrateInTransaction(connection, schema: schema, logger: logger)
        }
    }

    /// The tables migration 1 creates: a schema that holds tables must hold all of these to be taken for a store.
    static let firstTables: Set<String> = ["schema_version", "streams", "events", "checkpoints", "snapshots"]

    /// The store's schema version: `nil` when the schema holds no tables (or does not exist), its recorded version
    /// when it holds a store.
    ///
    /// A table named `schema_version` alone proves nothing (many migration tools keep one), so a schema that holds
    /// tables counts as a store only with every table of the first migration, a `schema_version` whose `version` is
    /// an `integer` column, and a version of 1 or more (the first migration records 1 in the transaction that
    /// creates the tables). A version past ``currentVersion`` is returned as it is, whatever the tables: the caller
    /// refuses it as a newer store's.
    ///
    /// - Throws: `EventStoreError/Code/incompatibleSchema` when the schema holds tables but not a store, before
    ///   anything is written; the server's `42501` (insufficient privilege) when the role may not read the
    ///   `schema_version` table of what may be a store.
    static func storeVersion(_ connection: PostgresConnection, schema: String, logger: Logger) async throws
        -> Int32?
    {
        let tables = Set(
            try await connection.rows(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = \(schema)", decoding: String.self,
                logger: logger))
        guard !tables.isEmpty else { return nil }
        let missing = firstTables.subtracting(tables).sorted()
        // From the catalog, which every role may read: `information_schema` shows only the columns that the role
        // has a privilege on, and would make a store that the role may not read look like someone else's tables.
        // Reading the version then fails on the missing privilege, and says so.
        let versionType =
            try await connection.rows(
                """
                SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(schema) AND c.relname = 'schema_version' AND c.relkind IN ('r', 'p')
                    AND a.attname = 'version' AND a.attnum > 0 AND NOT a.attisdropped
                """,
                decoding: String.self, logger: logger
            ).first
        var version: Int32 = 0
        if versionType == "integer" {
            version =
                try await connection.rows(
                    PostgresQuery(unsafeSQL: "SELECT coalesce(max(version), 0) FROM \"\(schema)\".schema_version"),
                    decoding: Int32.self, logger: logger
                ).first ?? 0
        }
        // A newer version's tables are its own business: the caller refuses it by its version.
        if version > currentVersion { return version }
        guard version >= 1, missing.isEmpty else {
            let reason =
                !missing.isEmpty
                ? "it has no table \(missing.map { "'\($0)'" }.joined(separator: ", "))"
                : versionType != "integer"
                    ? "its schema_version.version is not an integer column" : "its schema_version records no version"
            throw EventStoreError(
                .incompatibleSchema,
                message: "schema '\(schema)' holds tables but is not a Whizbang store (\(reason)); nothing was changed")
        }
        return version
    }

    /// Whether `schema` exists and carries ``createdSchemaComment``: a store's first migration created it.
    static func wasCreatedByStore(_ connection: PostgresConnection, schema: String, logger: Logger) async throws
        -> Bool
    {
        try await connection.rows(
            """
            SELECT coalesce(obj_description(oid, 'pg_namespace') = \(createdSchemaComment), false)
            FROM pg_namespace WHERE nspname = \(schema)
            """, decoding: Bool.self, logger: logger
        ).first ?? false
    }

    /// The store's schema version as ``storeVersion(_:schema:logger:)`` proves it, or `nil` when the schema holds no
    /// store (no tables, or another application's).
    static func storeVersionIfAny(_ connection: PostgresConnection, schema: String, logger: Logger) async throws
        -> Int32?
    {
        do {
            return try await storeVersion(connection, schema: schema, logger: logger)
        } catch let error as EventStoreError where error.code == .incompatibleSchema {
            return nil
        }
    }

    /// Runs `body` in a transaction on a connection that the caller closes when this throws, which rolls the
    /// transaction back. Unlike postgres-nio's `withTransaction`, it sends no `ROLLBACK` after a failure: closing
    /// the store closes the connection to end a wait, and a query sent on a closed connection may never complete.
    static func transaction(
        on connection: PostgresConnection, logger: Logger, _ body: () async throws -> Void
    ) async throws {
        try await connection.run("BEGIN", logger: logger)
        try await body()
        try await connection.run("COMMIT", logger: logger)
    }

    /// The work of ``migrate(_:schema:logger:)`` inside a transaction the caller holds, with the migration lock:
    /// every statement of the pending migrations goes to the server in one exchange.
    static func migrateInTransaction(_ connection: PostgresConnection, schema: String, logger: Logger) async throws {
        let quoted = "\"\(schema)\""
        let channel = "whizbang_\(schema)"
        var statements: [String] = []
        let version: Int32
        if let recorded = try await storeVersion(connection, schema: schema, logger: logger) {
            version = recorded
        } else {
            version = 0
            // Only when it is missing: `CREATE SCHEMA IF NOT EXISTS` needs the right to create schemas in the
            // database even when the schema exists, which a role given a schema of its own often lacks.
            let exists =
                try await connection.rows(
                    "SELECT count(*)::bigint FROM pg_namespace WHERE nspname = \(schema)", decoding: Int64.self,
                    logger: logger
                ).first ?? 0
            if exists == 0 {
                // The comment marks the schema as the store's own, which dropSchema may drop with the store.
                statements += [
                    "CREATE SCHEMA \(quoted)", "COMMENT ON SCHEMA \(quoted) IS '\(createdSchemaComment)'",
                ]
            }
            statements.append(
                """
                CREATE TABLE \(quoted).schema_version (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        guard version <= currentVersion else {
            throw EventStoreError(
                .incompatibleSchema,
                message: "schema '\(schema)' has schema version \(version); this code understands up to "
                    + "\(currentVersion)")
        }
        if version >= 1, version < currentVersion {
            try await refuseObjectsNamedAsLater(than: version, in: schema, on: connection, logger: logger)
        }
        for next in (version + 1)..<(currentVersion + 1) {
            for statement in migrations[Int(next) - 1] {
                statements.append(
                    statement.replacingOccurrences(of: "{schema}", with: quoted)
                        .replacingOccurrences(of: "{channel}", with: channel)
                        .replacingOccurrences(of: "{name}", with: schema))
            }
            statements.append("INSERT INTO \(quoted).schema_version (version) VALUES (\(next))")
        }
        try await connection.runAll(statements, logger: logger)
        if version < currentVersion {
            logger.debug(
                "migrated schema", metadata: ["schema": "\(schema)", "from": "\(version)", "to": "\(currentVersion)"])
        }
    }

    /// Refuses, changing nothing, a store at `version` whose schema holds objects named as those a later version of
    /// the store creates (a table, an index, a function or a procedure): someone else's, on which the migration
    /// would fail with the server's bare "already exists", or which `CREATE OR REPLACE` would replace.
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` naming them.
    static func refuseObjectsNamedAsLater(
        than version: Int32, in schema: String, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let relations = PostgresEventStore.relationsAddedInVersion.filter { $0.value > version }.map(\.key)
        let routines = PostgresEventStore.functionsAddedInVersion.filter { $0.value > version }.map(\.key)
        let found = try await connection.rows(
            """
            SELECT CASE c.relkind WHEN 'i' THEN 'index ' WHEN 'I' THEN 'index ' WHEN 'v' THEN 'view '
                    WHEN 'm' THEN 'materialized view ' WHEN 'S' THEN 'sequence ' ELSE 'table ' END || c.relname::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND c.relname = ANY(\(relations)::text[])
            UNION ALL
            SELECT DISTINCT CASE p.prokind WHEN 'p' THEN 'procedure ' ELSE 'function ' END || p.proname::text
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = \(schema) AND p.proname = ANY(\(routines)::text[])
            """,
            decoding: String.self, logger: logger)
        guard !found.isEmpty else { return }
        // Tables first, then the rest, each group by name.
        let named = found.sorted { ($0.hasPrefix("table ") ? 0 : 1, $0) < ($1.hasPrefix("table ") ? 0 : 1, $1) }
        throw EventStoreError(
            .invalidArgument,
            message: "schema '\(schema)' holds a Whizbang store at schema version \(version) and "
                + "\(named.joined(separator: ", ")), which are not its own: a later version of the store's schema "
                + "creates objects of those names, so this code (version \(currentVersion)) cannot migrate it; nothing "
                + "was changed: rename or remove them, then start the store again")
    }
}
