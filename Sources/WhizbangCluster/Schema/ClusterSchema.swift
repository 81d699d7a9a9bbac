import Logging
import PostgresNIO
import WhizbangPostgres

/// The cluster's tables, in a schema of their own beside the store's (`<store schema>_cluster`), so that the store's
/// schema holds only the store.
///
/// - `settings(key, value)`: the partition count, recorded by the first node, and `result_form`, the form in which
///   nodes store results (1: binary; absent or 0: JSON).
/// - `nodes(node_id, member, heartbeat_at, stopped, jobs, lease_ms)`: one row per node id; `member` names the process
///   (node id and a random suffix), so that a restarted node is a new member; `jobs` names the jobs it registered;
///   `lease_ms` is its lease, by which another process with its id judges whether it is still live.
/// - `partitions(partition, owner, epoch, lease_until)`: the owner member, its fencing token (the epoch, bumped at
///   every claim) and the lease's end on the database's clock.
/// - `inbox(id, message_id UNIQUE, partition, stream_id, aggregate_type, payload, status, outcome, node_id, epoch)`:
///   commands in arrival order; status 0 pending, 1 accepted, 2 rejected, 3 failed.
/// - `ownership_log(partition, owner, epoch, action, at)`: every claim and release, for operators and tests.
/// - `fence_rejections(node_id, partition, epoch, at)`: every transaction the fence refused.
/// - `jobs(name, owner, epoch, lease_until, checkpoint)`: the leased jobs (projections and process managers), each
///   with its owner member, its fencing token and the position of the last event its owners applied.
/// - `job_log(name, owner, epoch, action, checkpoint, at)`: every claim, release and fence rejection of a job.
/// - the function `commit_batch(...)`: a node's batch as one statement (``commitFunction(_:appendFunction:)``), and
///   the procedure `commit_batch_committed(...)`, which calls it and commits in the same exchange
///   (``commitProcedure(_:)``).
/// - the function `result_json(outcome bytea)`: a stored result as `jsonb`, in either form
///   (``resultFunction(_:)``), for reading the inbox with `psql`.
enum ClusterSchema {
    /// The schema of the cluster of a store in `storeSchema`.
    static func name(forStore storeSchema: String) -> String { storeSchema + "_cluster" }

    /// The notification channel of the cluster of a store in `storeSchema`: `whizbang_cluster_<schema>`, or, when
    /// that is longer than PostgreSQL's 63-byte limit for a name, `whizbang_cluster_h<hash of the schema>`.
    static func channel(forStore storeSchema: String) -> String {
        let channel = "whizbang_cluster_" + storeSchema
        guard channel.utf8.count > 63 else { return channel }
        let hash = String(StableHash.fnv1a64(storeSchema), radix: 16)
        return "whizbang_cluster_h" + String(repeating: "0", count: 16 - hash.count) + hash
    }

    /// The tables, sequences and functions the cluster creates in its schema.
    static let ownTables: Set<String> = [
        "settings", "nodes", "partitions", "inbox", "ownership_log", "jobs", "job_log", "fence_rejections",
    ]
    static let ownSequences: Set<String> = ["inbox_id_seq"]
    static let ownFunctions: Set<String> = ["commit_batch", "commit_batch_committed", "result_json"]

    /// Whether `schema` holds a cluster: a `settings` table that records a partition count.
    static func holdsCluster(_ schema: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let settings = "\"\(schema)\".settings"
        let exists =
            try await connection.rows(
                "SELECT to_regclass(\(settings)) IS NOT NULL", decoding: Bool.self, logger: logger
            ).first ?? false
        guard exists else { return false }
        return try await connection.rows(
            PostgresQuery(
                unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(settings) WHERE key = 'partition_count')"),
            decoding: Bool.self, logger: logger
        ).first ?? false
    }

    /// The objects of `schema` that the cluster did not create (tables, views, sequences and functions), sorted;
    /// empty when the schema does not exist. With `all`, every object of the schema, whatever its name.
    static func foreignObjects(
        in schema: String, all: Bool = false, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String] {
        let relations = try await connection.rows(
            """
            SELECT c.relname::text, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
            """, logger: logger
        ).map { try $0.decode((String, String).self) }
        let functions = try await connection.rows(
            """
            SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = \(schema)
            """, logger: logger
        ).map { try $0.decode(String.self) }
        var foreign: [String] = []
        for (name, kind) in relations {
            let own = kind == "S" ? ownSequences.contains(name) : kind == "r" && ownTables.contains(name)
            if all || !own { foreign.append(name) }
        }
        foreign += functions.filter { all || !ownFunctions.contains($0) }.map { "\($0)()" }
        return foreign.sorted()
    }

    /// The refusal of a cluster schema (`schema`, quoted) that holds `objects` the cluster did not create.
    static func foreignSchemaError(schema: String, objects: [String]) -> ClusterError {
        let list = objects.prefix(10).joined(separator: ", ") + (objects.count > 10 ? ", …" : "")
        return ClusterError(
            .foreignSchema,
            message: "schema \(schema), which the cluster of this store would use, holds objects the cluster did not "
                + "create (\(list)); nothing was changed. Give the store another schema, or move those objects.")
    }

    /// Creates the tables if missing and checks the partition count, in one transaction under an advisory lock.
    ///
    /// - Returns: the form in which the cluster's nodes store results: ``ClusterCommandResult/StoredForm/binary`` for a
    ///   cluster this call creates or whose `settings` say `result_form = 1`, otherwise
    ///   ``ClusterCommandResult/StoredForm/json`` (a cluster created before the binary form, whose clients may not read
    ///   it yet; ClusterDesign.md, "Upgrading a cluster").
    /// - Throws: ``ClusterError/Code/partitionCountMismatch`` when the cluster was created with another count;
    ///   ``ClusterError/Code/foreignSchema`` when the cluster's schema holds objects it did not create, and
    ///   ``ClusterError/Code/damagedSchema`` when a table of the cluster lacks a column or has it with another type, or
    ///   lacks a unique key of ``uniqueKeys`` (nothing is created or changed then); what `check` threw
    ///   (``ClusterNode/StartCheck``, run last in the transaction: nothing is created or changed then either).
    @discardableResult
    static func prepare(
        _ store: PostgresEventStore, partitionCount: Int, logger: Logger, check: ClusterNode.StartCheck? = nil
    ) async throws -> ClusterCommandResult.StoredForm {
        let schema = "\"\(name(forStore: store.configuration.schema))\""
        let lockKey = name(forStore: store.configuration.schema)
        return try await store.withTrustedTransaction { transaction in
            let connection = transaction.connection
            try await connection.run(
                "SELECT pg_advisory_xact_lock(1466460538, hashtext(\(lockKey)))", logger: logger
            )
            // A schema that holds a cluster (its settings record a partition count, written in the transaction
            // that created the cluster) goes on, even beside objects its operator added (a view, say); any other
            // schema that holds anything is someone else's, whatever its objects are named.
            let isCluster = try await holdsCluster(lockKey, on: connection, logger: logger)
            let foreign = try await foreignObjects(in: lockKey, all: !isCluster, on: connection, logger: logger)
            if !foreign.isEmpty {
                guard isCluster else { throw foreignSchemaError(schema: schema, objects: foreign) }
                let list = foreign.prefix(10).joined(separator: ", ") + (foreign.count > 10 ? ", …" : "")
                logger.warning(
                    "the cluster's schema holds objects the cluster did not create",
                    metadata: ["schema": "\(schema)", "objects": "\(list)"])
            }
            let functions = [
                commitFunction(schema, appendFunction: store.fencedAppendFunction), commitProcedure(schema),
                resultFunction(schema),
            ]
            // Looked at before any statement runs: a dropped column takes its indexes with it, and the statements
            // that make them again would fail on it first, in the server's words.
            if isCluster {
                let damaged = try await damagedTables(in: lockKey, on: connection, logger: logger)
                if !damaged.isEmpty {
                    throw ClusterError(
                        .damagedSchema,
                        message: "the cluster's tables in schema \(schema) are not as the cluster made them: "
                            + damaged.joined(separator: "; ") + "; the cluster's statements use these columns and keys "
                            + "as it made them, so nothing was changed. Restore them, or give the store another "
                            + "schema.")
                }
            }
            try await connection.runAll(statements(schema) + functions, logger: logger)
            // A cluster created now stores results in the binary form; one created before keeps JSON until its
            // operator switches it.
            try await connection.run(
                """
                INSERT INTO \(unescaped: schema).settings (key, value)
                SELECT 'result_form', \(ClusterCommandResult.StoredForm.binary.rawValue)
                WHERE NOT EXISTS (SELECT 1 FROM \(unescaped: schema).settings WHERE key = 'partition_count')
                ON CONFLICT (key) DO NOTHING
                """, logger: logger)
            try await connection.run(
                """
                INSERT INTO \(unescaped: schema).settings (key, value) VALUES ('partition_count', \(Int64(partitionCount)))
                ON CONFLICT (key) DO NOTHING
                """, logger: logger)
            let recorded =
                try await connection.rows(
                    "SELECT value FROM \(unescaped: schema).settings WHERE key = 'partition_count'",
                    decoding: Int64.self, logger: logger
                ).first ?? 0
            guard recorded == Int64(partitionCount) else {
                throw ClusterError(
                    .partitionCountMismatch,
                    message: "the cluster in schema \(schema) has \(recorded) partitions, not the \(partitionCount) of "
                        + "this configuration. The count is fixed when a cluster is created: configure \(recorded).")
            }
            try await connection.run(
                """
                INSERT INTO \(unescaped: schema).partitions (partition)
                SELECT generate_series(0, \(Int32(partitionCount - 1))) ON CONFLICT (partition) DO NOTHING
                """, logger: logger)
            // A row written around the client with a partition no node owns would wait for ever (and hold the
            // inbox's retention back): the inbox refuses it. Looked up first, as ALTER TABLE locks the inbox, and
            // given up after a second when the lock is not granted (a long retention pass, an open transaction):
            // every reader and writer of the inbox would queue behind the waiting ALTER; a later start adds it.
            // Rows already there are left as they are (NOT VALID).
            try await connection.run(
                """
                DO $$
                DECLARE previous text := current_setting('lock_timeout');
                BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '\(unescaped: schema).inbox'::regclass
                                   AND conname = 'inbox_partition_in_range')
                    THEN
                        PERFORM set_config('lock_timeout', '1000', true);
                        BEGIN
                            ALTER TABLE \(unescaped: schema).inbox ADD CONSTRAINT inbox_partition_in_range
                                CHECK (partition >= 0 AND partition < \(unescaped: String(partitionCount))) NOT VALID;
                        EXCEPTION WHEN lock_not_available THEN
                            RAISE NOTICE 'the inbox was busy; its partition check is added at a later start';
                        END;
                        PERFORM set_config('lock_timeout', previous, true);
                    END IF;
                    -- Nodes read from row 0 up (their cursor's first row): a row written by hand below it would stay
                    -- pending, out of its stream's order.
                    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '\(unescaped: schema).inbox'::regclass
                                   AND conname = 'inbox_id_positive')
                    THEN
                        PERFORM set_config('lock_timeout', '1000', true);
                        BEGIN
                            ALTER TABLE \(unescaped: schema).inbox ADD CONSTRAINT inbox_id_positive CHECK (id > 0)
                                NOT VALID;
                        EXCEPTION WHEN lock_not_available THEN
                            RAISE NOTICE 'the inbox was busy; its row id check is added at a later start';
                        END;
                        PERFORM set_config('lock_timeout', previous, true);
                    END IF;
                END $$
                """, logger: logger)
            let form =
                try await connection.rows(
                    "SELECT value FROM \(unescaped: schema).settings WHERE key = 'result_form'",
                    decoding: Int64.self, logger: logger
                ).first ?? ClusterCommandResult.StoredForm.json.rawValue
            try await check?(transaction)
            return ClusterCommandResult.StoredForm(rawValue: form) ?? .json
        }
    }

    /// The columns the cluster's statements use, by table, with their types as `format_type` spells them: what
    /// ``statements(_:)`` creates.
    static let columns: [String: [(name: String, type: String)]] = [
        "settings": [("key", "text"), ("value", "bigint")],
        "nodes": [
            ("node_id", "text"), ("member", "text"), ("started_at", "timestamp with time zone"),
            ("heartbeat_at", "timestamp with time zone"), ("stopped", "boolean"), ("jobs", "text[]"),
            ("lease_ms", "bigint"),
        ],
        "partitions": [
            ("partition", "integer"), ("owner", "text"), ("epoch", "bigint"),
            ("lease_until", "timestamp with time zone"),
        ],
        "inbox": [
            ("id", "bigint"), ("message_id", "uuid"), ("partition", "integer"), ("stream_id", "text"),
            ("aggregate_type", "text"), ("payload", "bytea"), ("status", "smallint"), ("outcome", "bytea"),
            ("node_id", "text"), ("epoch", "bigint"), ("enqueued_at", "timestamp with time zone"),
            ("done_at", "timestamp with time zone"),
        ],
        "ownership_log": [
            ("partition", "integer"), ("owner", "text"), ("epoch", "bigint"), ("action", "text"),
            ("at", "timestamp with time zone"),
        ],
        "jobs": [
            ("name", "text"), ("owner", "text"), ("epoch", "bigint"), ("lease_until", "timestamp with time zone"),
            ("checkpoint", "bigint"),
        ],
        "job_log": [
            ("name", "text"), ("owner", "text"), ("epoch", "bigint"), ("action", "text"), ("checkpoint", "bigint"),
            ("at", "timestamp with time zone"),
        ],
        "fence_rejections": [
            ("node_id", "text"), ("partition", "integer"), ("epoch", "bigint"), ("at", "timestamp with time zone"),
        ],
    ]

    /// Columns that clusters made by older builds lack, and that ``statements(_:)`` adds.
    static let addedColumns: Set<String> = ["nodes.jobs", "nodes.lease_ms"]

    /// The unique keys the cluster's statements rely on (`ON CONFLICT`, and the one row per message id), by table:
    /// each a list of columns that some unique index of the table must have exactly.
    static let uniqueKeys: [String: [[String]]] = [
        "settings": [["key"]], "nodes": [["node_id"]], "partitions": [["partition"]],
        "inbox": [["id"], ["message_id"]], "jobs": [["name"]],
    ]

    /// What differs from ``columns`` and ``uniqueKeys`` in the cluster's tables in `schema` (unquoted), in words:
    /// each column missing or of another type (the type compared exactly), and each unique key no valid unique index
    /// of the table has (one dropped by hand: an insert would then fail, or a message id run twice). A table that is
    /// not there at all (one that older builds did not make), the ``addedColumns`` and columns or indexes added by
    /// someone else are not looked at.
    static func damagedTables(in schema: String, on connection: PostgresConnection, logger: Logger) async throws
        -> [String]
    {
        var found: [String: [String: String]] = [:]
        for (table, column, type) in try await connection.rows(
            """
            SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(schema) AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
            """, decoding: (String, String, String).self, logger: logger
        ) {
            found[table, default: [:]][column] = type
        }
        var damaged: [String] = []
        for table in columns.keys.sorted() {
            guard let present = found[table] else { continue }
            for (column, type) in columns[table] ?? [] where !addedColumns.contains("\(table).\(column)") {
                switch present[column] {
                case nil: damaged.append("\(table).\(column) is missing")
                case type?: continue
                case let other?: damaged.append("\(table).\(column) is \(other), not \(type)")
                }
            }
        }
        var unique: [String: Set<[String]>] = [:]
        for (table, keyColumns) in try await connection.rows(
            """
            SELECT c.relname::text, array_agg(a.attname::text ORDER BY k.n)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
            WHERE n.nspname = \(schema) AND i.indisunique AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL
                AND i.indexprs IS NULL AND k.n <= i.indnkeyatts
            GROUP BY i.indexrelid, c.relname
            """, decoding: (String, [String]).self, logger: logger
        ) {
            unique[table, default: []].insert(keyColumns)
        }
        for table in uniqueKeys.keys.sorted() {
            guard let present = found[table] else { continue }
            for key in uniqueKeys[table] ?? [] where key.allSatisfy({ present[$0] != nil }) {
                if unique[table]?.contains(key) != true {
                    damaged.append("\(table) has no unique index on (\(key.joined(separator: ", ")))")
                }
            }
        }
        return damaged
    }

    static func statements(_ schema: String) -> [String] {
        [
            "CREATE SCHEMA IF NOT EXISTS \(schema)",
            """
            CREATE TABLE IF NOT EXISTS \(schema).settings (key text PRIMARY KEY, value bigint NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).nodes (
                node_id text PRIMARY KEY,
                member text NOT NULL,
                started_at timestamptz NOT NULL DEFAULT now(),
                heartbeat_at timestamptz NOT NULL DEFAULT now(),
                stopped boolean NOT NULL DEFAULT false,
                jobs text[] NOT NULL DEFAULT '{}',
                lease_ms bigint NOT NULL DEFAULT 0
            )
            """,
            // Clusters created by older builds lack the column; their nodes leave it empty. Checked first, since
            // ALTER TABLE locks the table even when the column exists.
            """
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_attribute
                               WHERE attrelid = '\(schema).nodes'::regclass AND attname = 'jobs' AND NOT attisdropped)
                THEN
                    ALTER TABLE \(schema).nodes ADD COLUMN jobs text[] NOT NULL DEFAULT '{}';
                END IF;
            END $$
            """,
            // The same for each node's lease (0 for a node of an older build, which records none).
            """
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_attribute
                               WHERE attrelid = '\(schema).nodes'::regclass AND attname = 'lease_ms' AND NOT attisdropped)
                THEN
                    ALTER TABLE \(schema).nodes ADD COLUMN lease_ms bigint NOT NULL DEFAULT 0;
                END IF;
            END $$
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).partitions (
                partition integer PRIMARY KEY,
                owner text,
                epoch bigint NOT NULL DEFAULT 0,
                lease_until timestamptz NOT NULL DEFAULT '-infinity'
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).inbox (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                message_id uuid NOT NULL UNIQUE,
                partition integer NOT NULL,
                stream_id text NOT NULL,
                aggregate_type text NOT NULL,
                payload bytea NOT NULL,
                status smallint NOT NULL DEFAULT 0,
                outcome bytea,
                node_id text,
                epoch bigint,
                enqueued_at timestamptz NOT NULL DEFAULT now(),
                done_at timestamptz
            )
            """,
            // Nodes fetch through this index. Clusters created by older builds also have `inbox_pending (id) WHERE
            // status = 0`, which those builds' nodes fetch through: it is left for them (ClusterDesign.md, Upgrading).
            // Looked up first: `CREATE INDEX IF NOT EXISTS` locks the inbox against writes (SHARE) before it finds
            // the index there, and every node's start and client's first send would stall the cluster's writes.
            """
            DO $$ BEGIN
                IF to_regclass('\(schema).inbox_pending_by_partition') IS NULL THEN
                    CREATE INDEX inbox_pending_by_partition ON \(schema).inbox (partition, id) WHERE status = 0;
                END IF;
            END $$
            """,
            // A fetch that starts past the first row looks through this index for older rows of the streams it
            // took, so that a row committed late below its start never runs after a later command of its stream.
            """
            DO $$ BEGIN
                IF to_regclass('\(schema).inbox_pending_by_stream') IS NULL THEN
                    CREATE INDEX inbox_pending_by_stream ON \(schema).inbox (stream_id, id) WHERE status = 0;
                END IF;
            END $$
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).ownership_log (
                partition integer NOT NULL,
                owner text NOT NULL,
                epoch bigint NOT NULL,
                action text NOT NULL,
                at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).jobs (
                name text PRIMARY KEY,
                owner text,
                epoch bigint NOT NULL DEFAULT 0,
                lease_until timestamptz NOT NULL DEFAULT '-infinity',
                checkpoint bigint NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).job_log (
                name text NOT NULL,
                owner text NOT NULL,
                epoch bigint NOT NULL,
                action text NOT NULL,
                checkpoint bigint NOT NULL,
                at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS \(schema).fence_rejections (
                node_id text NOT NULL,
                partition integer NOT NULL,
                epoch bigint NOT NULL,
                at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
        ]
    }

    /// A function that shows a stored result (``ClusterCommandResult``, the inbox's `outcome`) as `jsonb`, whether
    /// it is in the binary form or in the JSON of earlier nodes: `messageID`, `outcome`, `streamVersion`,
    /// `eventCount`, `node`, `reason` when there is one, and `state` when there is one (the aggregate's state as JSON,
    /// or as text when `jsonb` refuses it; as Base64 text in a result in JSON). Bytes in neither form are shown as
    /// `{"malformed": why}`, so that one bad row does not stop a query over the inbox. `NULL` for `NULL`.
    ///
    /// ```sql
    /// SELECT id, stream_id, <schema>_cluster.result_json(outcome)
    /// FROM <schema>_cluster.inbox ORDER BY id DESC LIMIT 10;
    /// ```
    ///
    /// Parallel unsafe: its `EXCEPTION` blocks start subtransactions, which PostgreSQL refuses during a parallel
    /// operation, so a query that calls it is planned without parallel workers. Each node's start replaces the
    /// function, so clusters made when it was declared parallel safe get this declaration too.
    static func resultFunction(_ schema: String) -> String {
        """
        CREATE OR REPLACE FUNCTION \(schema).result_json(p_outcome bytea) RETURNS jsonb
        LANGUAGE plpgsql STABLE STRICT PARALLEL UNSAFE AS $$
        DECLARE
            v_size integer := length(p_outcome);
            v_at integer := 31;
            v_length bigint;
            v_fields text[] := ARRAY['node', 'reason', 'state'];
            v_result jsonb;
            v_text text;
            v_value jsonb;
        BEGIN
            IF v_size = 0 THEN
                RETURN jsonb_build_object('malformed', 'empty');
            END IF;
            IF get_byte(p_outcome, 0) = 123 THEN
                BEGIN
                    RETURN convert_from(p_outcome, 'UTF8')::jsonb;
                EXCEPTION WHEN OTHERS THEN
                    RETURN jsonb_build_object('malformed', 'JSON that does not parse: ' || SQLERRM);
                END;
            END IF;
            IF get_byte(p_outcome, 0) <> 1 THEN
                RETURN jsonb_build_object('malformed', 'unknown form ' || get_byte(p_outcome, 0));
            END IF;
            IF v_size < 42 THEN
                RETURN jsonb_build_object('malformed', 'cut short');
            END IF;
            IF get_byte(p_outcome, 1) NOT BETWEEN 1 AND 3 THEN
                RETURN jsonb_build_object('malformed', 'unknown outcome ' || get_byte(p_outcome, 1));
            END IF;
            v_result := jsonb_build_object(
                'messageID', encode(substring(p_outcome FROM 3 FOR 16), 'hex')::uuid,
                'outcome', (ARRAY['accepted', 'rejected', 'failed'])[get_byte(p_outcome, 1)],
                'streamVersion', ('x' || encode(substring(p_outcome FROM 19 FOR 8), 'hex'))::bit(64)::bigint,
                'eventCount', ('x' || encode(substring(p_outcome FROM 27 FOR 4), 'hex'))::bit(32)::bigint);
            FOR i IN 1..3 LOOP
                IF v_at + 3 > v_size THEN
                    RETURN jsonb_build_object('malformed', 'cut short');
                END IF;
                v_length := ('x' || encode(substring(p_outcome FROM v_at FOR 4), 'hex'))::bit(32)::bigint;
                v_at := v_at + 4;
                IF v_length = 4294967295 THEN
                    IF i = 1 THEN
                        RETURN jsonb_build_object('malformed', 'no node');
                    END IF;
                    CONTINUE;
                END IF;
                IF v_at + v_length - 1 > v_size THEN
                    RETURN jsonb_build_object('malformed', 'cut short');
                END IF;
                BEGIN
                    v_text := convert_from(substring(p_outcome FROM v_at FOR v_length::integer), 'UTF8');
                EXCEPTION WHEN OTHERS THEN
                    RETURN jsonb_build_object('malformed', 'the ' || v_fields[i] || ' is not UTF-8');
                END;
                v_value := to_jsonb(v_text);
                IF i = 3 THEN
                    BEGIN
                        v_value := v_text::jsonb;
                    EXCEPTION WHEN OTHERS THEN
                        NULL; -- a state that jsonb refuses is shown as text
                    END;
                END IF;
                v_result := v_result || jsonb_build_object(v_fields[i], v_value);
                v_at := v_at + v_length::integer;
            END LOOP;
            IF v_at - 1 <> v_size THEN
                RETURN jsonb_build_object('malformed', 'bytes after its end');
            END IF;
            RETURN v_result;
        END
        $$
        """
    }

    /// The batch function's own parameters, before the append arrays.
    static let commitParameters = """
        p_member text, p_partitions integer[], p_epochs bigint[], p_node text, p_channel text,
            p_notify_limit integer, p_ids bigint[], p_statuses integer[], p_outcomes bytea[], p_result_epochs bigint[],
            p_append_rows integer[], p_append_row_ids bigint[]
        """

    /// The procedure `commit_batch_committed`: `commit_batch`, then `COMMIT`, in the one exchange of its `CALL`
    /// (`PostgresAppendCall.procedure`), so a batch's outcome arrives with its commit, one round trip instead of
    /// three.
    static func commitProcedure(_ schema: String) -> String {
        PostgresAppendCall.committingProcedure(
            named: "\(schema).commit_batch_committed", calling: "\(schema).commit_batch", parameters: commitParameters,
            arguments: "p_member, p_partitions, p_epochs, p_node, p_channel, p_notify_limit, p_ids, p_statuses, "
                + "p_outcomes, p_result_epochs, p_append_rows, p_append_row_ids",
            fenced: true)
    }

    /// The function through which a node commits a batch (a ``PostgresAppendCall`` of the store), so that the fence,
    /// the results and the appends run as one statement in one transaction: no round trip of the node's happens
    /// while the store's append lock is held.
    ///
    /// In order: the fence (every partition of `p_partitions` still owned by `p_member` at its epoch of `p_epochs`,
    /// locked `FOR KEY SHARE` so that no claim commits before this transaction does; otherwise one refusal row and
    /// nothing written); the results onto their inbox rows, which must all still be pending (otherwise it raises and
    /// everything rolls back); the store's fenced append (`PostgresEventStore.fencedAppendFunction`), called even
    /// with nothing to append, so that results decided on the store's tables are never recorded once those tables
    /// were dropped or replaced (it refuses with SQLSTATE `WB001`, and everything rolls back); then the rows of each
    /// append the store refused (`p_append_rows` of `p_append_row_ids` per append) are pending again, and one
    /// notification names the rows that got their results (`d` and their ids, or a bare `d` when the list would not
    /// fit).
    static func commitFunction(_ schema: String, appendFunction: String) -> String {
        """
        CREATE OR REPLACE FUNCTION \(schema).commit_batch(
            \(commitParameters), \(PostgresAppendCall.fencedAppendParameters))
        RETURNS \(PostgresAppendCall.returnType)
        LANGUAGE plpgsql
        AS $function$
        #variable_conflict use_column
        DECLARE
            v_held integer;
            v_updated integer;
            v_row record;
            v_index integer := 0;
            v_offset integer := 0;
            v_withdrawn bigint[] := '{}';
            v_done text;
        BEGIN
            SELECT count(*) INTO v_held FROM (
                SELECT 1 FROM \(schema).partitions p
                JOIN unnest(p_partitions, p_epochs) AS f(partition, epoch)
                    ON p.partition = f.partition AND p.epoch = f.epoch
                WHERE p.owner = p_member FOR KEY SHARE OF p
            ) AS held;
            IF v_held <> cardinality(p_partitions) THEN
                RETURN QUERY SELECT \(PostgresAppendCall.refusedStatus), 0::bigint, 0::bigint, false;
                RETURN;
            END IF;
            UPDATE \(schema).inbox AS i
            SET status = u.status, outcome = u.outcome, node_id = p_node, epoch = u.epoch, done_at = now()
            FROM unnest(p_ids, p_statuses, p_outcomes, p_result_epochs) AS u(id, status, outcome, epoch)
            WHERE i.id = u.id AND i.status = 0;
            GET DIAGNOSTICS v_updated = ROW_COUNT;
            IF v_updated <> cardinality(p_ids) THEN
                RAISE EXCEPTION '% of % inbox rows were no longer pending; the batch was rolled back',
                    cardinality(p_ids) - v_updated, cardinality(p_ids);
            END IF;
            FOR v_row IN SELECT * FROM \(appendFunction)(\(PostgresAppendCall.fencedAppendArguments)) LOOP
                v_index := v_index + 1;
                IF v_row.status <> 0 THEN
                    v_withdrawn := v_withdrawn
                        || p_append_row_ids[v_offset + 1 : v_offset + p_append_rows[v_index]];
                END IF;
                v_offset := v_offset + p_append_rows[v_index];
                status := v_row.status;
                stream_version := v_row.stream_version;
                first_position := v_row.first_position;
                inserted := v_row.inserted;
                RETURN NEXT;
            END LOOP;
            IF cardinality(v_withdrawn) > 0 THEN
                UPDATE \(schema).inbox
                SET status = 0, outcome = NULL, node_id = NULL, epoch = NULL, done_at = NULL
                WHERE id = ANY(v_withdrawn);
            END IF;
            IF v_updated > cardinality(v_withdrawn) THEN
                SELECT string_agg(d.id::text, ',') INTO v_done FROM unnest(p_ids) AS d(id)
                WHERE NOT d.id = ANY(v_withdrawn);
                PERFORM pg_notify(p_channel, CASE WHEN length(v_done) < p_notify_limit THEN 'd' || v_done ELSE 'd' END);
            END IF;
        END
        $function$
        """
    }
}
