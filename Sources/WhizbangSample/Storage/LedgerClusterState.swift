import Logging
import PostgresNIO
import WhizbangPostgres

/// What the cluster of a PostgreSQL ledger (`node`, `run --cluster`) keeps in its schema, `<schema>_cluster`, that
/// holds only for the log it ran on: its jobs' checkpoints (positions in that log), its inbox (commands to the
/// ledger's accounts, some perhaps still pending), and the leases of its live nodes.
///
/// A run that creates a ledger (a fresh run, or the first on a schema) and an import refuse while the cluster's
/// schema holds any of it: beside a new log, the transfer process manager's checkpoint would stand past the log's
/// end, so the nodes would skip the new ledger's transfer requests, and pending commands would run on the new
/// ledger's accounts. Neither clears that state itself: the cluster records nothing that ties it to a ledger, nor
/// that the sample made its schema (a node creates it when it is missing, and an operator may have added to it), so
/// nothing proves it the old ledger's.
struct LedgerClusterState {
    /// The cluster's schema.
    var schema: String
    /// The jobs registered, and of them those whose checkpoint is past the start of a log. A job at the start of the
    /// log counts too: a process manager that joined the cluster reads the new log from its start, and so would carry
    /// out again what a run without `--cluster` did (``LocalTransfersCheck``).
    var jobs: Int64 = 0
    var jobCheckpoints: Int64 = 0
    /// The inbox's rows, and of them the pending ones.
    var inboxRows: Int64 = 0
    var pendingRows: Int64 = 0
    /// The leases of partitions and jobs that have not run out: a node holds them, or held them until a moment ago.
    var liveLeases: Int64 = 0
    /// The tables of the cluster's names that lack a column the cluster gives them, or have it with another type
    /// (`jobs.owner is missing`): someone else's tables, which are neither read nor counted.
    var foreignTables: [String] = []

    /// The columns (and their types, as `format_type` spells them) that the counts below read.
    private static let columnsRead: [String: [String: String]] = [
        "partitions": ["owner": "text", "lease_until": "timestamp with time zone"],
        "jobs": ["owner": "text", "lease_until": "timestamp with time zone", "checkpoint": "bigint"],
        "inbox": ["status": "smallint"],
    ]

    /// The cluster's schema of a ledger in `storeSchema`, as WhizbangCluster names it.
    static func schema(forStore storeSchema: String) -> String { storeSchema + "_cluster" }

    /// What the cluster of the ledger in `storeSchema` keeps, read on `connection` (in the transaction that creates
    /// the ledger, where no store, and so no node or client of the cluster, runs on the ledger).
    static func find(forStore storeSchema: String, on connection: PostgresConnection, logger: Logger) async throws
        -> LedgerClusterState
    {
        var state = LedgerClusterState(schema: schema(forStore: storeSchema))
        let tables = Set(
            try await connection.rows(
                """
                SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(state.schema) AND c.relkind IN ('r', 'p')
                    AND c.relname IN ('jobs', 'inbox', 'partitions')
                """, decoding: String.self, logger: logger))
        // Looked at before any count: a count of a column that is not there fails, and with it the transaction.
        var columns: [String: [String: String]] = [:]
        for (table, column, type) in try await connection.rows(
            """
            SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(state.schema) AND c.relname IN ('jobs', 'inbox', 'partitions')
                AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
            """, decoding: (String, String, String).self, logger: logger)
        {
            columns[table, default: [:]][column] = type
        }
        for table in tables.sorted() {
            for (column, type) in (columnsRead[table] ?? [:]).sorted(by: { $0.key < $1.key }) {
                switch columns[table]?[column] {
                case nil: state.foreignTables.append("\(table).\(column) is missing")
                case type?: break
                case let other?: state.foreignTables.append("\(table).\(column) is \(other), not \(type)")
                }
            }
        }
        guard state.foreignTables.isEmpty else { return state }
        let quoted = "\"\(state.schema)\""
        func count(_ table: String, where condition: String) async throws -> Int64 {
            guard tables.contains(table) else { return 0 }
            return try await connection.rows(
                PostgresQuery(unsafeSQL: "SELECT count(*)::bigint FROM \(quoted).\(table) WHERE \(condition)"),
                decoding: Int64.self, logger: logger
            ).first ?? 0
        }
        let live = "owner IS NOT NULL AND lease_until >= now()"
        state.liveLeases = try await count("partitions", where: live) + count("jobs", where: live)
        state.jobs = try await count("jobs", where: "true")
        state.jobCheckpoints = try await count("jobs", where: "checkpoint > 0")
        state.inboxRows = try await count("inbox", where: "true")
        state.pendingRows = try await count("inbox", where: "status = 0")
        return state
    }

    /// The `refusal` of the PostgreSQL store's restore that creates a ledger in `configuration`'s schema for
    /// `command` (`run` or `import`): it reads the cluster's state in the restore's transaction, where no store, and
    /// so no node or client of the cluster, runs on the ledger until the transaction ends, so that the state cannot
    /// appear between the check and the new ledger.
    static func refusal(creatingLedgerIn configuration: PostgresEventStore.Configuration, by command: String)
        -> (PostgresConnection, Logger) async throws -> (any Error)?
    {
        { connection, logger in
            try await find(forStore: configuration.schema, on: connection, logger: logger)
                .refusal(configuration, by: command)
        }
    }

    /// The refusal of `command` (`run` or `import`) that would create a ledger beside this state, or `nil` when there
    /// is none.
    func refusal(_ configuration: PostgresEventStore.Configuration, by command: String) -> SampleError? {
        let place = "schema \(schema) of \(configuration)"
        if !foreignTables.isEmpty {
            return SampleError.refusal(
                "\(place), where the ledger's cluster keeps its state, holds tables of the cluster's names that are "
                    + "not the cluster's (\(foreignTables.joined(separator: "; "))); \(command) leaves them alone, and "
                    + "nothing was changed: give --database another schema (?schema=NAME), or move those tables")
        }
        if liveLeases > 0 {
            return SampleError.refusal(
                "a node of the ledger's cluster is live (\(liveLeases) leases in \(place) have not run out); "
                    + "\(command) leaves the cluster alone, and nothing was changed: stop the nodes first (a node "
                    + "killed without stopping holds its leases until they run out)")
        }
        guard jobs > 0 || inboxRows > 0 else { return nil }
        return SampleError.refusal(
            "\(place) holds the state of a cluster that ran on the ledger (\(jobs) jobs, \(jobCheckpoints) of them "
                + "past the start of a log, \(inboxRows) inbox rows, \(pendingRows) pending): beside a new ledger its "
                + "nodes would skip the new log's events up to those checkpoints, run the pending commands on it, or "
                + "carry out again the transfers of a run without --cluster; \(command) leaves the cluster alone, and "
                + "nothing was changed: clear that state (SQL: TRUNCATE \"\(schema)\".jobs, \"\(schema)\".inbox) or "
                + "give --database another schema (?schema=NAME)")
    }
}
