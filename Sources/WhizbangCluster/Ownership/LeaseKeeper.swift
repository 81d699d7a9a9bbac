import CoreMetrics
import Logging
import PostgresNIO
import WhizbangPostgres

/// A node's heartbeat: in one transaction on the database's clock it heartbeats, releases partitions it was asked
/// to give up, renews its leases, and claims unowned or expired partitions up to its fair share,
/// `ceil(partitions / live nodes)`, bumping each claimed partition's epoch. Ownership is sticky: a node keeps what
/// it holds, and one over its share marks the excess for release at the next heartbeat, once no batch runs there.
/// There is no leader and no rank arithmetic: claims race with `FOR UPDATE SKIP LOCKED`.
struct LeaseKeeper: Sendable {
    let store: PostgresEventStore
    let configuration: ClusterConfiguration
    let nodeID: String
    let member: String
    let ownership: Ownership
    let metrics: ClusterMetrics
    let schema: String
    let channel: String

    /// What a heartbeat saw and did.
    struct Beat: Sendable {
        var owned: [Int32: Int64] = [:]
        var claimed: [Int32: Int64] = [:]
        var released: [Int32] = []
        var liveNodes = 0
        var share = 0
        var inboxDepth: Int64 = 0
    }

    /// Registers the node; refuses when another live process runs a node with the same id.
    func register() async throws {
        let schema = self.schema
        let (nodeID, member, channel) = (self.nodeID, self.member, self.channel)
        let ttl = configuration.leaseDuration.wholeMilliseconds
        let registered = try await store.withConnection { connection, logger in
            try await connection.query(
                """
                WITH registered AS (
                    INSERT INTO \(unescaped: schema).nodes (node_id, member) VALUES (\(nodeID), \(member))
                    ON CONFLICT (node_id) DO UPDATE
                    SET member = excluded.member, started_at = now(), heartbeat_at = now(), stopped = false
                    WHERE nodes.stopped OR nodes.heartbeat_at <= now() - \(ttl) * interval '1 millisecond'
                    RETURNING member
                )
                SELECT member, pg_notify(\(channel), 'r')::text FROM registered
                """, logger: logger
            ).collect().count
        }
        guard registered == 1 else {
            throw ClusterError(
                .nodeAlreadyLive,
                message: "node id '\(nodeID)' is already live in this cluster (it heartbeat within the last "
                    + "\(configuration.leaseDuration)); choose another id, or stop that node first. Nothing was changed.")
        }
    }

    /// One heartbeat.
    func beat() async throws -> Beat {
        let schema = self.schema
        let (nodeID, member, channel) = (self.nodeID, self.member, self.channel)
        let ttl = configuration.leaseDuration.wholeMilliseconds
        let partitionCount = configuration.partitionCount
        let releasable = ownership.releasable()
        var beat = try await store.withTransaction { transaction in
            let connection = transaction.connection
            let logger = transaction.logger
            var beat = Beat()
            let alive = try await connection.query(
                """
                UPDATE \(unescaped: schema).nodes SET heartbeat_at = now(), stopped = false
                WHERE node_id = \(nodeID) AND member = \(member) RETURNING 1
                """, logger: logger
            ).collect().count
            guard alive == 1 else {
                throw ClusterError(
                    .nodeAlreadyLive,
                    message: "node id '\(nodeID)' was registered by another process while this one did not "
                        + "heartbeat; this node stops")
            }
            if !releasable.isEmpty {
                for try await partition in try await connection.query(
                    """
                    WITH released AS (
                        UPDATE \(unescaped: schema).partitions SET owner = NULL, lease_until = '-infinity'
                        WHERE partition = ANY(\(releasable)) AND owner = \(member) RETURNING partition, epoch
                    ), logged AS (
                        INSERT INTO \(unescaped: schema).ownership_log (partition, owner, epoch, action)
                        SELECT partition, \(member), epoch, 'release' FROM released
                    )
                    SELECT partition FROM released
                    """, logger: logger
                ).decode(Int32.self) {
                    beat.released.append(partition)
                }
                try await connection.query("SELECT pg_notify(\(channel), 'r')", logger: logger)
            }
            for try await (partition, epoch) in try await connection.query(
                """
                UPDATE \(unescaped: schema).partitions
                SET lease_until = now() + \(ttl) * interval '1 millisecond'
                WHERE owner = \(member) RETURNING partition, epoch
                """, logger: logger
            ).decode((Int32, Int64).self) {
                beat.owned[partition] = epoch
            }
            var (live, depth): (Int64, Int64) = (1, 0)
            for try await row in try await connection.query(
                    """
                    SELECT
                        (SELECT count(*) FROM \(unescaped: schema).nodes
                         WHERE NOT stopped AND heartbeat_at > now() - \(ttl) * interval '1 millisecond')::bigint,
                        (SELECT count(*) FROM \(unescaped: schema).inbox WHERE status = 0)::bigint
                    """, logger: logger
            ).decode((Int64, Int64).self) {
                (live, depth) = row
            }
            beat.liveNodes = Int(max(1, live))
            beat.inboxDepth = depth
            beat.share = (partitionCount + beat.liveNodes - 1) / beat.liveNodes
            let need = beat.share - beat.owned.count
            if need > 0 {
                for try await (partition, epoch) in try await connection.query(
                    """
                    WITH free AS (
                        SELECT partition FROM \(unescaped: schema).partitions
                        WHERE owner IS NULL OR lease_until < now()
                        ORDER BY random() LIMIT \(Int64(need)) FOR UPDATE SKIP LOCKED
                    ), claimed AS (
                        UPDATE \(unescaped: schema).partitions p
                        SET owner = \(member), epoch = p.epoch + 1,
                            lease_until = now() + \(ttl) * interval '1 millisecond'
                        FROM free WHERE p.partition = free.partition
                        RETURNING p.partition, p.epoch
                    ), logged AS (
                        INSERT INTO \(unescaped: schema).ownership_log (partition, owner, epoch, action)
                        SELECT partition, \(member), epoch, 'claim' FROM claimed
                    )
                    SELECT partition, epoch FROM claimed
                    """, logger: logger
                ).decode((Int32, Int64).self) {
                    beat.claimed[partition] = epoch
                }
            }
            return beat
        }
        beat.owned.merge(beat.claimed) { _, claimed in claimed }
        ownership.replace(with: beat.owned, released: beat.released)
        let marked = ownership.keep(atMost: beat.share)
        let logger = configuration.logger
        metrics.ownedPartitions.record(beat.owned.count)
        metrics.inboxDepth.record(beat.inboxDepth)
        if !beat.claimed.isEmpty {
            metrics.claims.increment(by: Int64(beat.claimed.count))
            logger.info(
                "claimed partitions",
                metadata: [
                    "node": "\(nodeID)", "partitions": "\(beat.claimed.keys.sorted())", "owned": "\(beat.owned.count)",
                    "liveNodes": "\(beat.liveNodes)",
                ])
        }
        if !beat.released.isEmpty {
            metrics.releases.increment(by: Int64(beat.released.count))
            logger.info(
                "released partitions",
                metadata: ["node": "\(nodeID)", "partitions": "\(beat.released.sorted())", "owned": "\(beat.owned.count)"])
        }
        if !marked.isEmpty {
            logger.debug(
                "over the fair share: releasing at the next heartbeat",
                metadata: ["node": "\(nodeID)", "partitions": "\(marked)", "share": "\(beat.share)"])
        }
        return beat
    }

    /// Gives up every partition at once and marks the node stopped, so that the other nodes claim them at their
    /// next heartbeat (the notification makes that at once).
    func releaseAll() async throws -> [Int32] {
        let schema = self.schema
        let (nodeID, member, channel) = (self.nodeID, self.member, self.channel)
        let released = try await store.withTransaction { transaction in
            let connection = transaction.connection
            let logger = transaction.logger
            var released: [Int32] = []
            for try await partition in try await connection.query(
                """
                WITH released AS (
                    UPDATE \(unescaped: schema).partitions SET owner = NULL, lease_until = '-infinity'
                    WHERE owner = \(member) RETURNING partition, epoch
                ), logged AS (
                    INSERT INTO \(unescaped: schema).ownership_log (partition, owner, epoch, action)
                    SELECT partition, \(member), epoch, 'release' FROM released
                )
                SELECT partition FROM released
                """, logger: logger
            ).decode(Int32.self) {
                released.append(partition)
            }
            try await connection.query(
                """
                UPDATE \(unescaped: schema).nodes SET stopped = true WHERE node_id = \(nodeID) AND member = \(member)
                """, logger: logger)
            try await connection.query("SELECT pg_notify(\(channel), 'r')", logger: logger)
            return released
        }
        ownership.clear()
        metrics.ownedPartitions.record(0)
        metrics.releases.increment(by: Int64(released.count))
        configuration.logger.info(
            "released every partition on stopping", metadata: ["node": "\(nodeID)", "partitions": "\(released.count)"])
        return released
    }
}
