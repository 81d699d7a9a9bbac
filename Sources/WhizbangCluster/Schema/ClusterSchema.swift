import Logging
import PostgresNIO
import WhizbangPostgres

/// The cluster's tables, in a schema of their own beside the store's (`<store schema>_cluster`), so that the store's
/// schema holds only the store.
///
/// - `settings(key, value)`: the partition count, recorded by the first node.
/// - `nodes(node_id, member, heartbeat_at, stopped)`: one row per node id; `member` names the process (node id and
///   a random suffix), so that a restarted node is a new member.
/// - `partitions(partition, owner, epoch, lease_until)`: the owner member, its fencing token (the epoch, bumped at
///   every claim) and the lease's end on the database's clock.
/// - `inbox(id, message_id UNIQUE, partition, stream_id, aggregate_type, payload, status, outcome, node_id, epoch)`:
///   commands in arrival order; status 0 pending, 1 accepted, 2 rejected, 3 failed.
/// - `ownership_log(partition, owner, epoch, action, at)`: every claim and release, for operators and tests.
/// - `fence_rejections(node_id, partition, epoch, at)`: every transaction the fence refused.
/// - `jobs(name, owner, epoch, lease_until, checkpoint)`: the leased jobs (projections and process managers), each
///   with its owner member, its fencing token and the position of the last event its owners applied.
/// - `job_log(name, owner, epoch, action, checkpoint, at)`: every claim, release and fence rejection of a job.
enum ClusterSchema {
    /// The schema of the cluster of a store in `storeSchema`.
    static func name(forStore storeSchema: String) -> String { storeSchema + "_cluster" }

    /// The notification channel of the cluster of a store in `storeSchema`.
    static func channel(forStore storeSchema: String) -> String { "whizbang_cluster_" + storeSchema }

    /// Creates the tables if missing and checks the partition count, in one transaction under an advisory lock.
    ///
    /// - Throws: ``ClusterError/Code/partitionCountMismatch`` when the cluster was created with another count.
    static func prepare(_ store: PostgresEventStore, partitionCount: Int, logger: Logger) async throws {
        let schema = "\"\(name(forStore: store.configuration.schema))\""
        let lockKey = name(forStore: store.configuration.schema)
        try await store.withTransaction { transaction in
            let connection = transaction.connection
            try await connection.query("SELECT pg_advisory_xact_lock(1466460538, hashtext(\(lockKey)))", logger: logger)
            for statement in statements(schema) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO \(unescaped: schema).settings (key, value) VALUES ('partition_count', \(Int64(partitionCount)))
                ON CONFLICT (key) DO NOTHING
                """, logger: logger)
            let recorded =
                try await connection.query(
                    "SELECT value FROM \(unescaped: schema).settings WHERE key = 'partition_count'", logger: logger
                ).collect().first?.decode(Int64.self) ?? 0
            guard recorded == Int64(partitionCount) else {
                throw ClusterError(
                    .partitionCountMismatch,
                    message: "the cluster in schema \(schema) has \(recorded) partitions; this node is configured with "
                        + "\(partitionCount). The count is fixed when a cluster is created: configure \(recorded).")
            }
            try await connection.query(
                """
                INSERT INTO \(unescaped: schema).partitions (partition)
                SELECT generate_series(0, \(Int32(partitionCount - 1))) ON CONFLICT (partition) DO NOTHING
                """, logger: logger)
        }
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
                stopped boolean NOT NULL DEFAULT false
            )
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
            "CREATE INDEX IF NOT EXISTS inbox_pending ON \(schema).inbox (id) WHERE status = 0",
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
}
