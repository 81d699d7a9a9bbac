import Logging
import PostgresNIO
import WhizbangCluster
import WhizbangPostgres

/// Keeps local and cluster transfers apart on one PostgreSQL ledger.
///
/// The nodes' transfer process manager (``TransferProcess``) reads the log's transfer requests from its job's
/// checkpoint, which starts at the beginning of the log when the job first joins the cluster. A transfer that a run
/// without `--cluster` requested was carried out by that run's own saga, whose commands never went through the inbox:
/// the process manager would find no result for them there and move the money again. So the first node of a ledger
/// whose log already holds transfer requests is refused, and changes nothing; and a run without `--cluster` refuses
/// transfers once the cluster has the transfer job.
enum LocalTransfersCheck {
    /// The node's start check (`ClusterNode.StartCheck`): in the transaction in which the node creates the cluster's
    /// tables or finds them, refuses (exit status 2) to add the transfer job to a cluster that does not have it yet
    /// when the ledger's log holds a transfer request; otherwise adds the job's row to the cluster's `jobs` in that
    /// transaction. Does nothing once the cluster has the job. It runs after the node's store has migrated the
    /// ledger, so a ledger an older build left is checked as well.
    ///
    /// A run without `--cluster` that starts after the node sees the job and refuses transfers
    /// (``refuseLocalTransfers(on:)``). One that is already running when the first node starts, and has not yet
    /// requested a transfer, is not seen: the ledger's writer lock, which such a run holds, cannot tell it from a
    /// `run --cluster`, which holds it too and may start before its first node. The job's row, at checkpoint 0 and
    /// without an owner, is what a node adds when it registers the job; it stays when the node is then refused for
    /// another reason (a node id already live), and says, as it would after any node's start, that the cluster runs
    /// the ledger's transfers.
    static func admitNode(
        _ transaction: PostgresStoreTransaction, storeSchema schema: String, requestTimeout: Duration
    ) async throws {
        let connection = transaction.connection
        let logger = transaction.logger
        let jobs = "\"\(LedgerClusterState.schema(forStore: schema))\".jobs"
        let known =
            try await connection.rows(
                "SELECT EXISTS (SELECT 1 FROM \(unescaped: jobs) WHERE name = \(TransferProcess.jobName))",
                decoding: Bool.self, logger: logger
            ).first ?? false
        if known { return }
        let requested = try await holdsTransferRequest(
            storeSchema: schema, within: requestTimeout / 2, on: connection, logger: logger)
        if requested {
            throw SampleError.refusal(
                "the ledger in schema \(schema) holds transfers that runs without --cluster carried out, and its "
                    + "cluster has never run the transfer process manager: a node would carry them out again; the "
                    + "node did not start, and nothing was changed. Start the cluster on a new ledger (run --database "
                    + "URL), or keep running this one without --cluster")
        }
        try await connection.run(
            "INSERT INTO \(unescaped: jobs) (name) VALUES (\(TransferProcess.jobName)) ON CONFLICT (name) DO NOTHING",
            logger: logger)
    }

    /// Whether the log of the ledger in `storeSchema` holds a transfer request. The log has no index on the event
    /// type: the scan stops at the first request, but reads the whole log when there is none, so the server ends it
    /// after `limit`, and the node is refused (exit status 2) with what it was checking.
    private static func holdsTransferRequest(
        storeSchema schema: String, within limit: Duration, on connection: PostgresConnection, logger: Logger
    ) async throws -> Bool {
        let (seconds, attoseconds) = limit.components
        let milliseconds = max(100, seconds * 1_000 + attoseconds / 1_000_000_000_000_000)
        let events = "\"\(schema)\".events"
        let bound = "\(milliseconds)ms"
        let previous =
            try await connection.rows(
                "SELECT current_setting('statement_timeout'), set_config('statement_timeout', \(bound), true)",
                decoding: (String, String).self, logger: logger
            ).first?.0 ?? "0"
        let found: Bool
        do {
            found =
                try await connection.rows(
                    "SELECT EXISTS (SELECT 1 FROM \(unescaped: events) WHERE event_type = 'TransferRequested' LIMIT 1)",
                    decoding: Bool.self, logger: logger
                ).first ?? false
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "57014" {
            throw SampleError.refusal(
                "looking for a transfer request in the log of schema \(schema) (which a run without --cluster "
                    + "carried out, and the cluster's first node would carry out again) took longer than "
                    + "\(milliseconds) ms, half the request timeout; the node did not start, and nothing was changed. "
                    + "Give the node a longer --lease-milliseconds (its request timeout is half of it)")
        }
        try await connection.run(
            "SELECT set_config('statement_timeout', \(previous), true)", logger: logger)
        return found
    }

    /// Throws a refusal (exit status 2) when a run without `--cluster` would carry out transfers (new ones, or those a
    /// stopped run left half done) on a PostgreSQL ledger whose cluster runs the transfer process manager: its nodes
    /// would read those transfers from the log and carry them out again.
    static func refuseLocalTransfers(on store: PostgresEventStore) async throws {
        let schema = store.configuration.schema
        let known = try await store.withConnection { connection, logger in
            try await transferJobKnown(on: connection, storeSchema: schema, logger: logger)
        }
        guard known else { return }
        throw SampleError.refusal(
            "the ledger's cluster (schema \(LedgerClusterState.schema(forStore: schema))) runs its transfers: its nodes "
                + "would carry out again the transfers that a run without --cluster carries out or finishes; nothing "
                + "was changed. Run with --cluster instead")
    }

    /// Whether the cluster of the ledger in `storeSchema` has the transfer job: a node has joined it.
    static func transferJobKnown(on connection: PostgresConnection, storeSchema: String, logger: Logger) async throws
        -> Bool
    {
        let clusterSchema = LedgerClusterState.schema(forStore: storeSchema)
        let tables = try await connection.rows(
            "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = \(clusterSchema) AND tablename = 'jobs'",
            decoding: Int64.self, logger: logger
        ).first ?? 0
        guard tables == 1 else { return false }
        let jobs = "\"\(clusterSchema)\".jobs"
        return try await connection.rows(
            "SELECT count(*)::bigint FROM \(unescaped: jobs) WHERE name = \(TransferProcess.jobName)",
            decoding: Int64.self, logger: logger
        ).first ?? 0 > 0
    }
}
