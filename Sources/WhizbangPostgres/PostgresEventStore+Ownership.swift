package import Logging
package import PostgresNIO
import Whizbang

extension PostgresEventStore {
    /// The tables a store creates in its schema.
    static let ownTables = [
        "schema_version", "streams", "events", "checkpoints", "snapshots", "read_models", "read_model_rows",
    ]
    /// The store schema version that created each table added after version 1: in a schema at an older version, a
    /// table of that name is not the store's.
    static let tablesAddedInVersion = ["read_models": 3, "read_model_rows": 3]
    /// The store schema version that created each relation (table or index) added after version 1, by name: in a
    /// schema at an older version, a relation of that name is not the store's, and the migration would fail on it.
    static let relationsAddedInVersion = tablesAddedInVersion.merging(
        ["read_models_pkey": 3, "read_model_rows_pkey": 3, "read_model_rows_by_index": 3]) { first, _ in first }
    /// The sequences PostgreSQL creates for the store's identity columns.
    static let ownSequences = ["streams_stream_key_seq"]
    /// The functions and procedures a store creates in its schema.
    static let ownFunctions = [
        "append_batch", "append_batch_committed", "append_batch_fenced", "append_batch_fenced_committed",
    ]
    /// The store schema version that created each function or procedure added after version 1: in a schema at an
    /// older version, a routine of that name is not the store's.
    static let functionsAddedInVersion = [
        "append_batch_committed": 5, "append_batch_fenced": 6, "append_batch_fenced_committed": 6,
    ]
    /// The indexes, constraints, triggers, rules and policies that a store's migrations create on its own tables, by
    /// kind; any other one on those tables is someone else's, and dropping the tables would drop it too.
    static let ownTableParts: [String: Set<String>] = [
        "index": [
            "schema_version_pkey", "streams_pkey", "streams_stream_id_key", "events_pkey", "events_by_stream",
            "events_by_id", "checkpoints_pkey", "snapshots_pkey", "read_models_pkey", "read_model_rows_pkey",
            "read_model_rows_by_index",
        ],
        "constraint": [
            "schema_version_pkey", "streams_pkey", "streams_stream_id_key", "events_pkey", "events_by_stream",
            "events_by_id", "events_stream_key_fkey", "checkpoints_pkey", "snapshots_pkey", "read_models_pkey",
            "read_model_rows_pkey",
        ],
    ]

    /// The columns of the store's tables; any other is someone's data, which dropping the table would lose.
    static let ownColumns: [String: Set<String>] = [
        "schema_version": ["version", "applied_at"],
        "streams": ["stream_key", "stream_id", "version"],
        "events": [
            "position", "stream_key", "version", "event_id", "event_type", "data", "metadata", "recorded_at",
            "schema_version",
        ],
        "checkpoints": ["consumer", "position"],
        "snapshots": ["stream_id", "version", "state_type", "data", "saved_at"],
        "read_models": [
            "name", "state", "served_generation", "served_version", "served_position", "building_generation",
            "building_version", "building_position", "next_generation", "failure",
        ],
        "read_model_rows": ["model", "generation", "key", "index_value", "position", "body"],
    ]
    /// The store schema version that added each column added after its table was created.
    static let columnsAddedInVersion = ["events.schema_version": 2]

    /// Looks at what `configuration`'s schema holds, without changing anything. Connects on a connection of its own;
    /// no store needs to run. Each wait for a lock and each statement takes at most ``Configuration/requestTimeout``.
    ///
    /// - Throws: `EventStoreError` — `invalidArgument` for an invalid configuration, `unavailable` (retryable) when
    ///   the server did not answer within ``Configuration/requestTimeout``, or the server's refusal.
    public static func inspectSchema(configuration: Configuration) async throws -> PostgresStoreSchema {
        try configuration.validate()
        return try await withOwnConnection(configuration) { connection, logger in
            try await inspect(configuration.schema, on: connection, logger: logger)
        }
    }

    /// Drops the store's own tables, sequences, function and procedure from `configuration`'s schema, in one
    /// transaction, after checking in that transaction that the schema holds nothing else: no other table, view,
    /// sequence, function, procedure, type, domain or collation, no index, constraint, trigger, rule, policy,
    /// column or extended statistics of someone else's on the store's tables, and no publication that names them or
    /// the schema (which dropping the tables would drop with them, or drop them from; a publication `FOR ALL TABLES`
    /// names no table and is not counted), and that nothing in another schema depends on what it holds (a view that
    /// reads the store's tables, a foreign key that references them: the drop would fail on them, or take them
    /// along). The schema itself stays. Does nothing when the schema holds no store.
    /// Stop the stores that use it first.
    ///
    /// Each wait for a lock (a backup that reads the tables) and each statement takes at most
    /// ``Configuration/requestTimeout``. A store that runs on the schema, in this process or another, holds a lock
    /// that says so (on its listening connection): the drop then refuses.
    ///
    /// - Throws: `EventStoreError/Code/invalidArgument` when the schema holds objects that are not the store's, or
    ///   when a store runs on it (nothing is dropped then; the message says which); `unavailable` (retryable) when a
    ///   lock or a statement took longer than ``Configuration/requestTimeout`` or the connection was lost (nothing is
    ///   dropped then either, unless it was the wait for the `COMMIT`'s answer that ended: then the drop may have
    ///   been made); or the server's refusal.
    public static func dropStoreTables(configuration: Configuration) async throws {
        try await dropStoreTables(configuration: configuration, droppingSchema: false)
    }

    /// ``dropStoreTables(configuration:)``, then, with `droppingSchema`, the schema itself (`RESTRICT`), in the same
    /// transaction: for ``dropSchema(configuration:)``. Returns whether the schema was dropped.
    @discardableResult
    static func dropStoreTables(configuration: Configuration, droppingSchema: Bool) async throws -> Bool {
        try configuration.validate()
        let schema = configuration.schema
        let quoted = "\"\(schema)\""
        return try await withOwnConnection(configuration) { connection, logger in
            try await connection.withStoreTransaction(logger: logger) {
                // The lock a migration takes: no store creates its tables while they are dropped.
                try await connection.run(
                    "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockClass + 1), hashtext(\(schema)))", logger: logger
                )
                let found = try await inspect(schema, on: connection, logger: logger)
                let refusal = EventStoreError(.invalidArgument, message: "\(found); nothing was dropped")
                if found.holdsStore {
                    guard found.otherObjects.isEmpty else { throw refusal }
                    try await refuseIfInUse(schema, on: connection, logger: logger)
                    try await dropOwnObjects(schema, on: connection, logger: logger)
                }
                guard droppingSchema && found.exists else { return false }
                // Only a schema the store's migration created is the store's; any other one (made by an operator
                // for the store, with grants and a comment of their own; `public`) stays.
                guard try await PostgresSchema.wasCreatedByStore(connection, schema: schema, logger: logger) else {
                    logger.debug(
                        "schema left in place: the store did not create it", metadata: ["schema": "\(schema)"])
                    return false
                }
                guard found.otherObjects.isEmpty else { throw refusal }
                let given = try await privilegesGiven(on: schema, on: connection, logger: logger)
                guard given.isEmpty else {
                    throw EventStoreError(
                        .invalidArgument,
                        message: "schema '\(schema)', which the store created, carries privileges that someone gave "
                            + "on it (\(given.joined(separator: "; "))), which dropping it would drop too; nothing "
                            + "was dropped. Revoke them first, or drop only the store's tables (dropStoreTables).")
                }
                try await connection.run(PostgresQuery(unsafeSQL: "DROP SCHEMA \(quoted) RESTRICT"), logger: logger)
                return true
            }
        }
    }

    /// The privileges given on `schema` that the store never gives, and that a `DROP SCHEMA` would drop with it:
    /// privileges on the schema for roles other than its owner, and default privileges for objects made in it
    /// (`ALTER DEFAULT PRIVILEGES IN SCHEMA`). Each as "usage for reader", "default privileges of app for reader".
    static func privilegesGiven(on schema: String, on connection: PostgresConnection, logger: Logger) async throws
        -> [String]
    {
        let granted = try await connection.rows(
            """
            SELECT lower(a.privilege_type) || ' for '
                || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END
            FROM pg_namespace n, aclexplode(n.nspacl) AS a
            WHERE n.nspname = \(schema) AND a.grantee <> n.nspowner
            ORDER BY 1
            """, decoding: String.self, logger: logger)
        let defaults = try await connection.rows(
            """
            SELECT DISTINCT 'default privileges of ' || pg_get_userbyid(d.defaclrole)::text || ' for '
                || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END
            FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) AS a
            WHERE n.nspname = \(schema)
            ORDER BY 1
            """, decoding: String.self, logger: logger)
        return granted + defaults
    }

    /// Drops the store's tables, sequences, functions and procedure from `schema`, in the caller's transaction,
    /// which holds the migration lock and has checked that the schema holds nothing else and that no store runs on it.
    static func dropOwnObjects(_ schema: String, on connection: PostgresConnection, logger: Logger) async throws {
        let quoted = "\"\(schema)\""
        do {
            // The append lock, which every append takes first: appends under way commit before anything is dropped,
            // and those that come later wait for this transaction, then find the tables gone or made again, and
            // refuse (the fence of `append_batch_fenced`).
            try await connection.run(
                "SELECT pg_advisory_xact_lock(\(PostgresSchema.lockClass), hashtext(\(schema)))", logger: logger)
            for function in ownFunctions {
                // ROUTINE: a function or a procedure.
                try await connection.run(
                    PostgresQuery(unsafeSQL: "DROP ROUTINE IF EXISTS \(quoted).\(function)"), logger: logger)
            }
            // RESTRICT: should anything still depend on a table, the transaction fails and nothing is dropped.
            let tables = ownTables.map { "\(quoted).\($0)" }.joined(separator: ", ")
            try await connection.run(
                PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \(tables) RESTRICT"), logger: logger)
        } catch let error as PSQLError where PostgresServerError(error)?.sqlState == "2BP01" {
            // Something made since the inspection depends on the store (the server's detail names it, and what).
            let detail = error.serverInfo?[.detail].map { " (\($0))" } ?? ""
            throw EventStoreError(
                .invalidArgument,
                message: "objects that are not the store's depend on its objects in schema '\(schema)'\(detail); "
                    + "nothing was changed")
        }
    }

    /// Throws `invalidArgument` when a store runs on `schema` (on this server, in this process or another);
    /// otherwise takes the schema's use lock (`PostgresSchema/useLockClass`) until the caller's transaction ends, so
    /// that no store starts on the schema meanwhile.
    ///
    /// Every running store holds that lock in shared mode on its listening connection. The lock is tried every 50
    /// milliseconds for up to two seconds — long enough for a store that has just closed to let it go (the server
    /// ends a closed connection's session a moment later) — never waited for in the server's queue, where it would
    /// hold up stores that start.
    static func refuseIfInUse(_ schema: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard
            try await PostgresSchema.tryUseLock(
                "pg_try_advisory_xact_lock", schema: schema, until: .now + .seconds(2), on: connection, logger: logger)
        else {
            throw EventStoreError(
                .invalidArgument,
                message: "a store runs on schema '\(schema)' (in this process or another; PostgreSQL's "
                    + "pg_stat_activity shows their connections as application_name 'whizbang'); stop it first: "
                    + "nothing was changed")
        }
    }

    static func inspect(_ schema: String, on connection: PostgresConnection, logger: Logger) async throws
        -> PostgresStoreSchema
    {
        let exists =
            try await connection.rows(
                "SELECT count(*)::bigint FROM pg_namespace WHERE nspname = \(schema)",
                decoding: Int64.self, logger: logger
            ).first ?? 0
        guard exists == 1 else {
            return PostgresStoreSchema(
                schema: schema, exists: false, holdsStore: false, otherObjects: [], runningStores: 0)
        }
        var names: [String] = []
        let holdsStore: Bool
        let relations = try await connection.rows(
            """
            SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            """,
            logger: logger
        )
        let decoded = try relations.map { try $0.decode((String, String).self) }
        // The proof a starting store asks for (`PostgresSchema.storeVersion`): a `schema_version` table alone may be
        // another application's, and is then one of its objects.
        let version = Int64(try await PostgresSchema.storeVersionIfAny(connection, schema: schema, logger: logger) ?? 0)
        holdsStore = version > 0
        var tables: Set<String> = []
        for (name, kind) in decoded {
            let isOwn =
                kind == "S"
                ? ownSequences.contains(name)
                : kind == "r" && ownTables.contains(name) && version >= Int64(tablesAddedInVersion[name] ?? 1)
            if !isOwn { names.append(kind == "S" ? "sequence \(name)" : name) }
            if isOwn && kind == "r" { tables.insert(name) }
        }
        // What hangs on the store's tables and goes with them when they are dropped. (NOT NULL constraints, which
        // PostgreSQL 18 lists as constraints too, and the triggers behind foreign keys are parts of the columns and
        // keys themselves.)
        let parts = try await connection.rows(
            """
            SELECT p.kind, p.name, t.relname::text FROM (
                SELECT 'index' AS kind, i.relname::text AS name, x.indrelid AS table_id
                FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                UNION ALL
                SELECT 'constraint', c.conname::text, c.conrelid FROM pg_constraint c
                WHERE c.conrelid <> 0 AND c.contype <> 'n'
                UNION ALL
                SELECT 'trigger', g.tgname::text, g.tgrelid FROM pg_trigger g WHERE NOT g.tgisinternal
                UNION ALL
                SELECT 'rule', r.rulename::text, r.ev_class FROM pg_rewrite r
                UNION ALL
                SELECT 'policy', o.polname::text, o.polrelid FROM pg_policy o
            ) p
            JOIN pg_class t ON t.oid = p.table_id JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = \(schema)
            """,
            logger: logger
        )
        for row in parts {
            let (kind, name, table) = try row.decode((String, String, String).self)
            if tables.contains(table) && ownTableParts[kind]?.contains(name) != true {
                names.append("\(kind) \(name) on \(table)")
            }
        }
        let functions = try await connection.rows(
            """
            SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = \(schema)
            """,
            logger: logger
        )
        var ownFunctionsSeen = Set<String>()
        for row in functions {
            let name = try row.decode(String.self)
            let isOwn = ownFunctions.contains(name) && version >= Int64(functionsAddedInVersion[name] ?? 1)
            // A second routine of an own name is an overload someone else made.
            if !isOwn || !ownFunctionsSeen.insert(name).inserted { names.append("function \(name)") }
        }
        names += try await attachedObjects(schema, ownTables: tables, version: version, on: connection, logger: logger)
        names += try await dependentsElsewhere(schema, on: connection, logger: logger)
        // The running stores' use locks in this database (PostgreSQL shows a lock of two 4-byte keys as classid,
        // objid, objsubid 2).
        let running =
            try await connection.rows(
                """
                SELECT count(*)::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND classid = \(Int64(PostgresSchema.useLockClass))::oid
                AND objid = (hashtext(\(schema))::bigint & 4294967295)::oid AND objsubid = 2
                """, decoding: Int64.self, logger: logger
            ).first ?? 0
        return PostgresStoreSchema(
            schema: schema, exists: true, holdsStore: holdsStore, otherObjects: names.sorted(),
            runningStores: Int(running))
    }

    /// What else dropping the store's tables or its schema would take with them, named for a refusal: columns added
    /// to the store's tables, extended statistics on them or in the schema, publications that carry them or the
    /// schema, and types, domains and collations in the schema.
    private static func attachedObjects(
        _ schema: String, ownTables: Set<String>, version: Int64, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String] {
        var names: [String] = []
        let columns = try await connection.rows(
            """
            SELECT c.relname::text, a.attname::text FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
            """,
            logger: logger)
        for row in columns {
            let (table, column) = try row.decode((String, String).self)
            guard ownTables.contains(table) else { continue }
            let added = Int64(columnsAddedInVersion["\(table).\(column)"] ?? 1)
            if ownColumns[table]?.contains(column) != true || version < added {
                names.append("column \(column) on \(table)")
            }
        }
        let attached = try await connection.rows(
            """
            SELECT 'statistics ' || s.stxname FROM pg_statistic_ext s
            JOIN pg_class t ON t.oid = s.stxrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_namespace sn ON sn.oid = s.stxnamespace
            WHERE tn.nspname = \(schema) OR sn.nspname = \(schema)
            UNION ALL
            SELECT 'publication ' || p.pubname || ' of ' || c.relname FROM pg_publication_rel r
            JOIN pg_publication p ON p.oid = r.prpubid JOIN pg_class c ON c.oid = r.prrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = \(schema)
            UNION ALL
            SELECT CASE t.typtype WHEN 'd' THEN 'domain ' ELSE 'type ' END || t.typname FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace
            LEFT JOIN pg_class c ON c.oid = t.typrelid
            WHERE n.nspname = \(schema)
                AND (t.typtype IN ('d', 'e', 'r', 'm') OR (t.typtype = 'c' AND c.relkind = 'c'))
            UNION ALL
            SELECT 'collation ' || o.collname FROM pg_collation o JOIN pg_namespace n ON n.oid = o.collnamespace
            WHERE n.nspname = \(schema)
            """,
            decoding: String.self, logger: logger)
        names += attached
        // Publications of a whole schema (PostgreSQL 15 and later).
        let hasSchemaPublications =
            try await connection.rows(
                "SELECT to_regclass('pg_catalog.pg_publication_namespace') IS NOT NULL", decoding: Bool.self,
                logger: logger
            ).first ?? false
        if hasSchemaPublications {
            names += try await connection.rows(
                """
                SELECT 'publication ' || p.pubname || ' of the schema' FROM pg_publication_namespace r
                JOIN pg_publication p ON p.oid = r.pnpubid JOIN pg_namespace n ON n.oid = r.pnnspid
                WHERE n.nspname = \(schema)
                """,
                decoding: String.self, logger: logger)
        }
        return names
    }

    /// The objects outside `schema` that depend on what it holds, such as a view in another schema that reads the
    /// store's `events` or a foreign key of another schema's table that references its `streams`, each named with
    /// what it depends on: `DROP ... RESTRICT` fails on them (SQLSTATE `2BP01`), and `CASCADE` would drop them.
    ///
    /// They are the normal dependencies (`pg_depend`) on a table, sequence, index, type or routine in the schema,
    /// of objects whose own schema (for a rule, default, trigger or policy: its table's schema) is another one.
    private static func dependentsElsewhere(
        _ schema: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String] {
        try await connection.rows(
            """
            WITH own (classid, oid) AS (
                SELECT 'pg_class'::regclass::oid, c.oid FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = \(schema)
                UNION ALL
                SELECT 'pg_type'::regclass::oid, t.oid FROM pg_type t
                JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = \(schema)
                UNION ALL
                SELECT 'pg_proc'::regclass::oid, p.oid FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = \(schema)
            ), dependent AS (
                SELECT d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid,
                    CASE d.classid
                        WHEN 'pg_rewrite'::regclass THEN (SELECT w.ev_class FROM pg_rewrite w WHERE w.oid = d.objid)
                        WHEN 'pg_attrdef'::regclass THEN (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = d.objid)
                        WHEN 'pg_trigger'::regclass THEN (SELECT g.tgrelid FROM pg_trigger g WHERE g.oid = d.objid)
                        WHEN 'pg_policy'::regclass THEN (SELECT o.polrelid FROM pg_policy o WHERE o.oid = d.objid)
                    END AS table_id
                FROM pg_depend d JOIN own ON own.classid = d.refclassid AND own.oid = d.refobjid
                WHERE d.deptype = 'n'
            )
            SELECT named.name || ', which depends on ' || coalesce(
                string_agg(DISTINCT named.target, ', ') FILTER (WHERE named.target_type <> 'index'),
                string_agg(DISTINCT named.target, ', '))
            FROM (
                SELECT
                    CASE WHEN d.classid = 'pg_rewrite'::regclass AND t.type IN ('view', 'materialized view')
                        THEN t.type || ' ' || t.identity ELSE o.type || ' ' || o.identity
                    END AS name,
                    r.type || ' ' || r.identity AS target, r.type AS target_type
                FROM dependent d
                CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, d.objsubid) o
                CROSS JOIN LATERAL pg_identify_object('pg_class'::regclass, coalesce(d.table_id, 0), 0) t
                CROSS JOIN LATERAL pg_identify_object(d.refclassid, d.refobjid, 0) r
                WHERE coalesce(t.schema, o.schema, '') <> \(schema)
            ) named
            GROUP BY named.name
            """,
            decoding: String.self, logger: logger)
    }

    /// Runs `body` on a connection of its own, outside any store's pool, on which each wait for a lock and each
    /// statement takes at most ``Configuration/requestTimeout`` (a longer one fails with
    /// `EventStoreError/Code/unavailable`); closes the connection afterwards.
    package static func withOwnConnection<Result: Sendable>(
        _ configuration: Configuration,
        _ body: (PostgresConnection, Logger) async throws -> Result
    ) async throws -> Result {
        let logger = configuration.logger
        configuration.warnOfIgnoredPasswordFile()
        do {
            let connection = try await PostgresConnection.connect(
                configuration: configuration.connectionConfiguration(boundedBy: configuration.requestTimeout),
                id: 0, logger: logger)
            do {
                // The server bounds each statement (the connection's `statement_timeout` and `lock_timeout`); the
                // client bounds it too, for a server that stops answering.
                let result = try await StatementLimit.withLimit(
                    configuration.requestTimeout, server: configuration.serverDescription, on: connection
                ) { try await body(connection, logger) }
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
