import Foundation
import PostgresNIO
import WhizbangConsole
import WhizbangPostgres

extension ServeCommand {
    /// Reads the cluster beside a PostgreSQL store for the console's cluster page: the `nodes` and `partitions`
    /// tables of the schema `<store schema>_cluster` that WhizbangCluster documents, read-only (the store's
    /// connections run read-only transactions); `nil` when the tables do not exist.
    static func clusterReader(of store: PostgresEventStore) -> @Sendable () async throws -> ClusterStatus? {
        let clusterSchema = store.configuration.schema + "_cluster"
        let schema = "\"\(clusterSchema.replacingOccurrences(of: "\"", with: "\"\""))\""
        return {
            try await store.withConnection { connection, logger in
                let tables =
                    try await connection.rows(
                        """
                        SELECT count(*)::bigint FROM pg_tables
                        WHERE schemaname = \(clusterSchema) AND tablename IN ('nodes', 'partitions')
                        """, decoding: Int64.self, logger: logger
                    ).first ?? 0
                guard tables == 2 else { return nil }
                var nodes: [ClusterStatus.Node] = []
                for (node, member, age, stopped, lease) in try await connection.rows(
                    """
                    SELECT node_id, member, extract(epoch FROM now() - heartbeat_at)::float8, stopped,
                        \(unescaped: ClusterStatusCommand.leaseSeconds)
                    FROM \(unescaped: schema).nodes n ORDER BY node_id
                    """, decoding: (String, String, Double, Bool, Double?).self, logger: logger
                ) {
                    nodes.append(
                        ClusterStatus.Node(
                            nodeID: node, member: member, secondsSinceHeartbeat: age, stopped: stopped,
                            secondsOfLease: lease))
                }
                var partitions: [ClusterStatus.Partition] = []
                for (partition, owner, epoch, left) in try await connection.rows(
                    """
                    SELECT partition, owner, epoch,
                        CASE WHEN lease_until = '-infinity' THEN 0
                            ELSE extract(epoch FROM lease_until - now())::float8 END
                    FROM \(unescaped: schema).partitions ORDER BY partition
                    """, decoding: (Int32, String?, Int64, Double).self, logger: logger
                ) {
                    partitions.append(
                        ClusterStatus.Partition(
                            partition: Int(partition), owner: owner, epoch: epoch, secondsOfLeaseLeft: left))
                }
                return ClusterStatus(nodes: nodes, partitions: partitions)
            }
        }
    }
}
