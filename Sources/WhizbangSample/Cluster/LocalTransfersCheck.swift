import Logging
import PostgresNIO
import WhizbangPostgres

/// Refuses to start the first node of a ledger whose log holds transfers that runs without `--cluster` carried out.
///
/// The nodes' transfer process manager (``TransferProcess``) reads the log's transfer requests from its job's
/// checkpoint, which starts at the beginning of the log when the job first joins the cluster. A transfer that a run
/// without `--cluster` requested was carried out by that run's own saga, whose commands never went through the inbox:
/// the process manager would find no result for them there and move the money again. The job joins the cluster with
/// the first node that starts; so a node that would add it to a ledger whose log already holds transfer requests is
/// refused, and changes nothing.
enum LocalTransfersCheck {
    /// Throws a refusal (exit status 2) when the cluster of the ledger at `configuration` has never run the transfer
    /// job and the ledger's log holds a transfer request; does nothing where no ledger is yet.
    static func refuseIfNeeded(_ configuration: PostgresEventStore.Configuration) async throws {
        guard try await PostgresEventStore.inspectSchema(configuration: configuration).holdsStore else { return }
        var reading = configuration
        reading.isReadOnly = true
        let store = try PostgresEventStore(configuration: reading)
        let (jobKnown, requested) = try await withThrowingTaskGroup(of: (Bool, Bool)?.self) { group in
            group.addTask {
                try await store.run()
                return nil
            }
            defer { store.close() }
            let jobKnown = try await store.withConnection { connection, logger in
                try await transferJobKnown(on: connection, storeSchema: configuration.schema, logger: logger)
            }
            guard !jobKnown else { return (true, false) }
            let found = try await store.readAll(
                after: 0, limit: 1, eventTypes: ["TransferRequested"], scanLimit: UInt64(Int64.max))
            return (false, !found.events.isEmpty)
        }
        guard !jobKnown, requested else { return }
        throw SampleError.refusal(
            "the ledger at \(configuration) holds transfers that runs without --cluster carried out, and its cluster "
                + "has never run the transfer process manager: a node would carry them out again; the node did not "
                + "start, and nothing was changed. Start the cluster on a new ledger (run --database URL), or keep "
                + "running this one without --cluster")
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
