import ArgumentParser
import Foundation
import PostgresNIO
import WhizbangConsole
import WhizbangPostgres

/// Prints a cluster's nodes, who owns which partitions at which epochs, and the inbox's depth; changes nothing.
struct ClusterStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Print a cluster's nodes, partition owners and epochs, and inbox depth.")

    @OptionGroup var database: DatabaseOption

    func run() async throws {
        guard case .postgres(var configuration) = try database.target() else {
            throw SampleError("cluster needs a PostgreSQL --database (postgres://...)", exitStatus: 2)
        }
        configuration.isReadOnly = true
        do {
            try await printStatus(configuration)
        } catch let error as EventStoreError where error.code == .incompatibleSchema {
            // A store of another schema version: this command only reads, and says so as the other reads do.
            throw SampleDatabase.otherVersionRefusal(error, configuration)
        }
    }

    /// The lease of node row `n` in seconds, or `NULL` when it records none (0, or no `lease_ms` column: it came in a
    /// later release, and read through the row's JSON the query still runs on tables made before it).
    static let leaseSeconds = "(nullif((to_jsonb(n) ->> 'lease_ms')::float8, 0) / 1000)"

    /// A node's line: its heartbeat's age, and whether it stopped or has been silent for longer than its lease.
    static func nodeLine(_ node: ClusterStatus.Node) -> String {
        let age = String(format: "%.1f", node.secondsSinceHeartbeat)
        var line = "  \(node.nodeID) (\(node.member)): heartbeat \(age) s ago"
        if node.stopped {
            line += ", stopped"
        } else if node.isSilent, let lease = node.secondsOfLease {
            line += ", silent for longer than its \(String(format: "%.1f", lease)) s lease (dead, paused or cut off; "
                + "its partitions' leases have run out, and other nodes may claim them)"
        }
        return line
    }

    private func printStatus(_ configuration: PostgresEventStore.Configuration) async throws {
        // A schema of that name that holds others' objects is no cluster's: say whose objects, not "no cluster".
        try await ClusterOptions.checkClusterSchema(configuration)
        let clusterSchema = configuration.schema + "_cluster"
        let store = try PostgresEventStore(configuration: configuration)
        let schema = "\"\(clusterSchema)\""
        let lines = try await PostgresProblem.mapping(configuration) {
            try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask {
                    try await store.run()
                    return nil
                }
                defer { store.close() }
                let lines = try await store.withConnection { connection, logger in
                    var lines: [String] = []
                    let exists = try await connection.rows(
                        "SELECT count(*)::bigint FROM pg_tables WHERE schemaname = \(clusterSchema) AND tablename = 'partitions'",
                        decoding: Int64.self, logger: logger
                    ).first ?? 0
                    guard exists == 1 else { return ["no cluster in schema \(clusterSchema)"] }
                    lines.append("nodes:")
                    for (node, member, age, stopped, lease) in try await connection.rows(
                        """
                        SELECT node_id, member, extract(epoch FROM now() - heartbeat_at)::float8, stopped,
                            \(unescaped: Self.leaseSeconds)
                        FROM \(unescaped: schema).nodes n ORDER BY node_id
                        """, decoding: (String, String, Double, Bool, Double?).self, logger: logger
                    ) {
                        lines.append(
                            Self.nodeLine(
                                ClusterStatus.Node(
                                    nodeID: node, member: member, secondsSinceHeartbeat: age, stopped: stopped,
                                    secondsOfLease: lease)))
                    }
                    lines.append("partitions:")
                    for (owner, count, live, lowest, highest) in try await connection.rows(
                        """
                        SELECT coalesce(owner, '(none)'), count(*)::bigint,
                            count(*) FILTER (WHERE lease_until > now())::bigint, min(epoch), max(epoch)
                        FROM \(unescaped: schema).partitions GROUP BY owner ORDER BY owner
                        """, decoding: (String, Int64, Int64, Int64, Int64).self, logger: logger
                    ) {
                        lines.append(
                            "  \(owner): \(count) partitions (\(live) with a live lease), epochs \(lowest)...\(highest)")
                    }
                    for (pending, accepted, rejected, failed, unknown) in try await connection.rows(
                        """
                        SELECT count(*) FILTER (WHERE status = 0)::bigint, count(*) FILTER (WHERE status = 1)::bigint,
                            count(*) FILTER (WHERE status = 2)::bigint, count(*) FILTER (WHERE status = 3)::bigint,
                            count(*) FILTER (WHERE status NOT IN (0, 1, 2, 3))::bigint
                        FROM \(unescaped: schema).inbox
                        """, decoding: (Int64, Int64, Int64, Int64, Int64).self, logger: logger
                    ) {
                        // A row of another status (written by hand, or by a newer build) is run by no node: shown,
                        // so that it is not missed.
                        lines.append(
                            "inbox: \(pending) pending, \(accepted) accepted, \(rejected) rejected, \(failed) failed"
                                + (unknown > 0 ? ", \(unknown) with a status no node knows (no node runs them)" : ""))
                    }
                    let fenced = try await connection.rows(
                        "SELECT count(*)::bigint FROM \(unescaped: schema).fence_rejections",
                        decoding: Int64.self, logger: logger
                    ).first ?? 0
                    lines.append("fence rejections: \(fenced)")
                    return lines
                }
                store.close()
                try await group.waitForAll()
                return lines
            }
        }
        // Node ids and members are the operators' text.
        for line in lines { StandardOutput.line(line) }
    }
}
