import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import Whizbang
import WhizbangCluster
import WhizbangPostgres

extension RunCommand {
    /// `run --cluster`: the same workload, report and checks as a local run, but every command goes through the
    /// cluster's inbox and runs on whichever node owns its account's partition. The nodes (`node`) must be running
    /// on the same database; the store is kept, never emptied, since the nodes use it. With `--transfers`, the nodes'
    /// process manager runs each transfer's steps; the run sends the request and waits for the last step.
    func runThroughCluster<Store: EventStore>(on store: Store, database opened: OpenedDatabase) async throws {
        guard let store = store as? PostgresEventStore else {
            throw SampleError("--cluster needs a PostgreSQL --database (postgres://...)", exitStatus: 2)
        }
        let workload = LedgerWorkload(
            accounts: accounts, commands: commands, initialDeposit: initialDeposit, seed: seed, transfers: transfers)
        let progress = ProgressLine(isEnabled: !quiet)
        let baseline = try await verifiedBaseline(of: store)
        let ackLog = AckLog.opened
        let client: ClusterClient
        do {
            client = try ClusterClient(
                store: store, aggregates: AccountCommandCodec.aggregates, configuration: clusterOptions.configuration)
        } catch let error as ClusterError {
            throw ClusterOptions.refusal(error)
        }
        if try await liveNodes(of: store, lease: clusterOptions.configuration.leaseDuration) == 0 {
            // The commands wait in the inbox for a node, each up to its time limit: say why the run is silent.
            FileHandle.standardError.write(
                Data(
                    ("note: no node of the cluster is running on this database; the commands wait in the inbox until "
                        + "one does (start one with: WhizbangSample node --database ...)\n").utf8))
        }
        try await ackLog?.identifyLedger(in: store)
        var run = ClusterWorkloadRun(
            workload: workload, concurrency: concurrency, client: client, ackLog: ackLog, progress: progress,
            baseline: baseline.balances)
        // The nodes run the transfers (the `node` command's process manager); this run sends their requests.
        run.transferPrefix = "transfer-\(baseline.lastPosition)-"
        let stop = StopSignal.forRun
        run.stopRequested = { stop.received != nil }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                defer { group.cancelAll() }
                try await run.open()
                try await run.operate()
            }
        } catch let error as ClusterError
            where [.partitionCountMismatch, .foreignSchema, .damagedSchema].contains(error.code)
        {
            throw ClusterOptions.refusal(error)
        } catch let error as ClusterError where error.code == .timedOut {
            throw Self.timedOutError(error)
        } catch let error as ClusterError {
            throw SampleError(error.message)
        }
        if stop.received != nil, run.unanswered > 0 {
            StandardError.write(
                "\(run.unanswered) commands sent to the cluster's inbox had no result when the run stopped: they run "
                    + "when a node takes them\n")
        }
        try await finish(
            on: store, database: opened, stop: stop, workload: workload, baseline: baseline,
            statistics: run.statistics, kept: run.ledger, progress: progress)
    }

    /// The run's words for a command whose result did not come in time (`timedOut`): the library's advice to a
    /// command already in the inbox (await the result again by message id) is for a program, and the run cannot
    /// follow it. Its other time limits (the cluster's tables not ready, an insert unanswered) keep their words,
    /// which say whether anything was sent.
    static func timedOutError(_ error: ClusterError) -> SampleError {
        guard error.message.hasSuffix("await it again with the same message id"),
            let advice = error.message.range(of: "; it is in the inbox")
        else { return SampleError("\(error.message); the run stopped") }
        return SampleError(
            "\(error.message[..<advice.lowerBound]); the run stopped. Its commands stay in the cluster's inbox and "
                + "run once a node takes them (WhizbangSample node --database ...)")
    }

    /// The nodes whose heartbeat is younger than `lease` and that have not stopped; 0 when no node ever ran (the
    /// cluster's schema, `<store schema>_cluster`, has no `nodes` table yet).
    private func liveNodes(of store: PostgresEventStore, lease: Duration) async throws -> Int64 {
        let schema = store.configuration.schema + "_cluster"
        let milliseconds = lease.components.seconds * 1_000 + lease.components.attoseconds / 1_000_000_000_000_000
        return try await store.withConnection { connection, logger in
            let exists =
                try await connection.rows(
                    "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = \(schema) AND tablename = 'nodes'",
                    decoding: Int64.self, logger: logger
                ).first ?? 0
            guard exists == 1 else { return 0 }
            let quoted = "\"\(schema.replacingOccurrences(of: "\"", with: "\"\""))\""
            return try await connection.rows(
                """
                SELECT count(*)::bigint FROM \(unescaped: quoted).nodes
                WHERE NOT stopped AND heartbeat_at > now() - \(milliseconds) * interval '1 millisecond'
                """, decoding: Int64.self, logger: logger
            ).first ?? 0
        }
    }
}
