import CoreMetrics
import Logging
import PostgresNIO
import WhizbangPostgres

/// A node's heartbeat: in one transaction on the database's clock it heartbeats, releases partitions it was asked
/// to give up, renews its leases, and claims unowned or expired partitions up to its fair share,
/// `ceil(partitions / live nodes)`, bumping each claimed partition's epoch. Ownership is sticky: a node keeps what
/// it holds, and one over its share marks the excess for release at the next heartbeat, once no batch runs there.
/// There is no leader and no rank arithmetic: claims race with `FOR UPDATE SKIP LOCKED`.
///
/// The same transaction does the same for the node's jobs (projections and process managers): it renews their
/// leases and claims unowned or expired ones among those the node registered, up to `ceil(jobs / live nodes)`.
struct LeaseKeeper: Sendable {
    let store: PostgresEventStore
    let configuration: ClusterConfiguration
    let nodeID: String
    let member: String
    let ownership: Ownership
    let jobs: JobOwnership
    let jobNames: [String]
    let metrics: ClusterMetrics
    let schema: String
    let channel: String
    /// The depth metric's count, apart from the heartbeat.
    let depthCount = InboxDepthCount()
    /// The limits of the transactions that lock partitions and jobs.
    var bounds: TransactionBounds { TransactionBounds(store: store.configuration, cluster: configuration) }

    /// What a heartbeat saw and did.
    struct Beat: Sendable {
        var owned: [Int32: Int64] = [:]
        var claimed: [Int32: Int64] = [:]
        var released: [Int32] = []
        var liveNodes = 0
        var share = 0
        /// Unowned or expired partitions seen at the start of the claim, locked or not.
        var free = 0
        /// Whether the claim got fewer partitions than it needed while more were free: another transaction held
        /// some of them (a batch finishing on a stopping node), so the node tries again soon.
        var contended = false
        /// How long until the first lease of another node (a partition or a job) runs out, if one will before its
        /// owner would renew it at its next heartbeat: that owner has missed heartbeats, and this node claims the
        /// lease the moment it expires rather than at its own next heartbeat.
        var nextForeignExpiry: Duration?
        var ownedJobs: [String: JobOwnership.Claim] = [:]
        var claimedJobs: [String: JobOwnership.Claim] = [:]
        var releasedJobs: [String] = []
        /// Held jobs to give up to less loaded nodes (``JobPlacement``).
        var jobsToRelease: [String] = []

        /// How long the node waits before its next heartbeat: `heartbeatInterval`, or less when this one calls for
        /// an earlier claim. A claim that found free partitions locked (a batch still finishing on a node that gave
        /// them up) tries again after 50 ms; a lease of another node that runs out first (that node missed its
        /// heartbeats) is claimed 5 ms after it does.
        func delayUntilNextBeat(heartbeatInterval: Duration) -> Duration {
            var delay = heartbeatInterval
            if contended { delay = min(delay, .milliseconds(50)) }
            if let nextForeignExpiry { delay = min(delay, nextForeignExpiry + .milliseconds(5)) }
            return delay
        }
    }

    /// Registers the node; refuses when another live process runs a node with the same id.
    func register() async throws {
        let schema = self.schema
        let (nodeID, member, channel) = (self.nodeID, self.member, self.channel)
        let ttl = configuration.leaseDuration.wholeMilliseconds
        let jobNames = self.jobNames
        let logger = configuration.logger
        // One transaction: a node whose jobs could not be added is not left registered (live, without heartbeats,
        // refusing its own restart as `nodeAlreadyLive` until its lease runs out).
        let bounds = self.bounds
        let registered = try await store.withTrustedTransaction { transaction in
            let connection = transaction.connection
            try await bounds.apply(on: connection, logger: transaction.logger)
            let registered = try await connection.rows(
                """
                WITH registered AS (
                    INSERT INTO \(unescaped: schema).nodes (node_id, member, jobs, lease_ms)
                    VALUES (\(nodeID), \(member), \(jobNames)::text[], \(ttl))
                    ON CONFLICT (node_id) DO UPDATE
                    SET member = excluded.member, started_at = now(), heartbeat_at = now(), stopped = false,
                        jobs = excluded.jobs, lease_ms = excluded.lease_ms
                    -- The registered node is live for its own lease, which may be longer than this one's.
                    WHERE nodes.stopped
                        OR nodes.heartbeat_at <= now() - greatest(\(ttl), nodes.lease_ms) * interval '1 millisecond'
                    RETURNING member
                )
                SELECT member, pg_notify(\(channel), 'r')::text FROM registered
                """, logger: logger
            ).count
            // The node's jobs join the cluster's only once the node is registered: a refused node changes nothing.
            if registered == 1, !jobNames.isEmpty {
                try await connection.run(
                    """
                    INSERT INTO \(unescaped: schema).jobs (name) SELECT unnest(\(jobNames)::text[])
                    ON CONFLICT (name) DO NOTHING
                    """, logger: logger)
            }
            return registered
        }
        guard registered == 1 else {
            throw ClusterError(
                .nodeAlreadyLive,
                message: "node id '\(nodeID)' is already live in this cluster (it heartbeat within its lease, or "
                    + "within this node's lease of \(ttl) ms); choose another id, or stop that node first. "
                    + "Nothing was changed.")
        }
    }

    /// The commands pending in the inbox, for the depth metric.
    private func pendingCommands() async throws -> Int64 {
        let schema = self.schema
        return try await store.withTrustedTransaction { transaction in
            try await transaction.connection.rows(
                "SELECT count(*)::bigint FROM \(unescaped: schema).inbox WHERE status = 0", decoding: Int64.self,
                logger: transaction.logger
            ).first ?? 0
        }
    }

    /// One heartbeat; without `claiming`, it only beats, releases and renews (a stopping node's last one).
    func beat(claiming: Bool = true) async throws -> Beat {
        let schema = self.schema
        let (nodeID, member, channel) = (self.nodeID, self.member, self.channel)
        let ttl = configuration.leaseDuration.wholeMilliseconds
        let partitionCount = configuration.partitionCount
        let releasable = ownership.releasable()
        let releasableJobs = jobs.releasable()
        let releasingJobs = jobs.releasing
        let jobNames = self.jobNames
        let bounds = self.bounds
        var beat = try await store.withTrustedTransaction { transaction in
            let connection = transaction.connection
            let logger = transaction.logger
            try await bounds.apply(on: connection, logger: logger)
            var beat = Beat()
            let alive = try await connection.rows(
                """
                UPDATE \(unescaped: schema).nodes SET heartbeat_at = now(), stopped = false
                WHERE node_id = \(nodeID) AND member = \(member) RETURNING 1
                """, logger: logger
            ).count
            guard alive == 1 else {
                throw ClusterError(
                    .nodeAlreadyLive,
                    message: "node id '\(nodeID)' was registered by another process while this one did not "
                        + "heartbeat; this node stops")
            }
            if !releasable.isEmpty {
                for partition in try await connection.rows(
                    """
                    WITH released AS (
                        UPDATE \(unescaped: schema).partitions SET owner = NULL, lease_until = '-infinity'
                        WHERE partition = ANY(\(releasable)) AND owner = \(member) RETURNING partition, epoch
                    ), logged AS (
                        INSERT INTO \(unescaped: schema).ownership_log (partition, owner, epoch, action)
                        SELECT partition, \(member), epoch, 'release' FROM released
                    )
                    SELECT partition FROM released
                    """, decoding: Int32.self, logger: logger
                ) {
                    beat.released.append(partition)
                }
                try await connection.run("SELECT pg_notify(\(channel), 'r')", logger: logger)
            }
            for (partition, epoch) in try await connection.rows(
                """
                UPDATE \(unescaped: schema).partitions
                SET lease_until = now() + \(ttl) * interval '1 millisecond'
                WHERE owner = \(member) RETURNING partition, epoch
                """, decoding: (Int32, Int64).self, logger: logger
            ) {
                beat.owned[partition] = epoch
            }
            var (live, free, expiry): (Int64, Int64, Int64?) = (1, 0, nil)
            for row in try await connection.rows(
                    """
                    SELECT
                        (SELECT count(*) FROM \(unescaped: schema).nodes
                         WHERE NOT stopped AND heartbeat_at > now() - \(ttl) * interval '1 millisecond')::bigint,
                        (SELECT count(*) FROM \(unescaped: schema).partitions
                         WHERE owner IS NULL OR lease_until < now())::bigint,
                        (SELECT ceil(extract(epoch FROM min(until) - now()) * 1000)::bigint FROM (
                            SELECT min(lease_until) AS until FROM \(unescaped: schema).partitions
                            WHERE owner <> \(member) AND lease_until >= now()
                            UNION ALL
                            SELECT min(lease_until) FROM \(unescaped: schema).jobs
                            WHERE owner <> \(member) AND lease_until >= now()) AS leases)
                    """, decoding: (Int64, Int64, Int64?).self, logger: logger
            ) {
                (live, free, expiry) = row
            }
            if let expiry, expiry < configuration.heartbeatInterval.wholeMilliseconds {
                beat.nextForeignExpiry = .milliseconds(max(0, expiry))
            }
            beat.liveNodes = Int(max(1, live))
            beat.free = Int(free)
            beat.share = (partitionCount + beat.liveNodes - 1) / beat.liveNodes
            let need = claiming ? beat.share - beat.owned.count : 0
            if need > 0 {
                for (partition, epoch) in try await connection.rows(
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
                    """, decoding: (Int32, Int64).self, logger: logger
                ) {
                    beat.claimed[partition] = epoch
                }
                beat.contended = beat.claimed.count < min(need, beat.free)
            }
            if claiming {
                try await beatJobs(
                    &beat, connection: connection, logger: logger, releasable: releasableJobs,
                    releasing: releasingJobs, names: jobNames)
            }
            return beat
        }
        beat.owned.merge(beat.claimed) { _, claimed in claimed }
        ownership.replace(with: beat.owned, released: beat.released)
        let marked = ownership.keep(atMost: beat.share)
        var markedJobs: [String] = []
        if claiming {
            beat.ownedJobs.merge(beat.claimedJobs) { _, claimed in claimed }
            jobs.replace(with: beat.ownedJobs, released: beat.releasedJobs)
            markedJobs = jobs.markForRelease(beat.jobsToRelease)
        }
        let logger = configuration.logger
        metrics.ownedPartitions.record(beat.owned.count)
        // Counted apart from the heartbeat: a count that waits (a locked inbox, a deep backlog) would otherwise delay
        // the renewals, or fail them with it inside their transaction, until the leases lapsed. A stopping node's
        // last heartbeat counts nothing: no query of the node outlives it.
        if claiming {
            let depthGauge = metrics.inboxDepth
            depthCount.start({ try await pendingCommands() }, record: { depthGauge.record($0) })
        }
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
        if !beat.claimedJobs.isEmpty {
            logger.info(
                "claimed jobs",
                metadata: [
                    "node": "\(nodeID)", "jobs": "\(beat.claimedJobs.keys.sorted())",
                    "checkpoints": "\(beat.claimedJobs.sorted { $0.key < $1.key }.map(\.value.checkpoint))",
                ])
        }
        if !beat.releasedJobs.isEmpty {
            logger.info("released jobs", metadata: ["node": "\(nodeID)", "jobs": "\(beat.releasedJobs)"])
        }
        if !markedJobs.isEmpty {
            logger.debug(
                "other nodes hold fewer jobs: releasing once their runners stop",
                metadata: ["node": "\(nodeID)", "jobs": "\(markedJobs)"])
        }
        if !marked.isEmpty {
            logger.debug(
                "over the fair share: releasing at the next heartbeat",
                metadata: ["node": "\(nodeID)", "partitions": "\(marked)", "share": "\(beat.share)"])
        }
        return beat
    }

    /// The jobs' part of a heartbeat: release those asked for, renew the rest, and claim or mark for release as
    /// ``JobPlacement`` decides from the live nodes' loads.
    private func beatJobs(
        _ beat: inout Beat, connection: PostgresConnection, logger: Logger, releasable: [String],
        releasing: Set<String>, names: [String]
    ) async throws {
        guard !names.isEmpty else { return }
        let (schema, member) = (self.schema, self.member)
        let ttl = configuration.leaseDuration.wholeMilliseconds
        if !releasable.isEmpty {
            for name in try await connection.rows(
                """
                WITH released AS (
                    UPDATE \(unescaped: schema).jobs SET owner = NULL, lease_until = '-infinity'
                    WHERE name = ANY(\(releasable)::text[]) AND owner = \(member) RETURNING name, epoch, checkpoint
                ), logged AS (
                    INSERT INTO \(unescaped: schema).job_log (name, owner, epoch, action, checkpoint)
                    SELECT name, \(member), epoch, 'release', checkpoint FROM released
                )
                SELECT name FROM released
                """, decoding: String.self, logger: logger
            ) {
                beat.releasedJobs.append(name)
            }
            try await connection.run("SELECT pg_notify(\(channel), 'r')", logger: logger)
        }
        for (name, epoch, checkpoint) in try await connection.rows(
            """
            UPDATE \(unescaped: schema).jobs SET lease_until = now() + \(ttl) * interval '1 millisecond'
            WHERE owner = \(member) RETURNING name, epoch, checkpoint
            """, decoding: (String, Int64, Int64).self, logger: logger
        ) {
            beat.ownedJobs[name] = JobOwnership.Claim(epoch: epoch, checkpoint: UInt64(max(0, checkpoint)))
        }
        // Each job goes to the least loaded of the live nodes that registered it (JobPlacement).
        var nodes: [String: JobPlacement.Node] = [:]
        for (other, registered, load) in try await connection.rows(
            """
            SELECT n.member, n.jobs,
                (SELECT count(*) FROM \(unescaped: schema).jobs j WHERE j.owner = n.member AND j.lease_until >= now())
                    ::bigint
            FROM \(unescaped: schema).nodes n
            WHERE NOT n.stopped AND n.heartbeat_at > now() - \(ttl) * interval '1 millisecond'
                AND n.jobs && \(names)::text[]
            """, decoding: (String, [String], Int64).self, logger: logger
        ) {
            nodes[other] = JobPlacement.Node(jobs: Set(registered), load: Int(load))
        }
        var free: [String] = []
        for name in try await connection.rows(
            """
            SELECT name FROM \(unescaped: schema).jobs
            WHERE name = ANY(\(names)::text[]) AND (owner IS NULL OR lease_until < now())
            """, decoding: String.self, logger: logger
        ) {
            free.append(name)
        }
        let held = beat.ownedJobs.keys.filter { !releasing.contains($0) }
        let placement = JobPlacement(
            member: member, registered: Set(names), held: held, free: free, nodes: nodes)
        beat.jobsToRelease = placement.release
        let chosen = placement.claim
        guard !chosen.isEmpty else { return }
        for (name, epoch, checkpoint) in try await connection.rows(
            """
            WITH free AS (
                SELECT name FROM \(unescaped: schema).jobs
                WHERE name = ANY(\(chosen)::text[]) AND (owner IS NULL OR lease_until < now())
                ORDER BY name FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE \(unescaped: schema).jobs j
                SET owner = \(member), epoch = j.epoch + 1, lease_until = now() + \(ttl) * interval '1 millisecond'
                FROM free WHERE j.name = free.name
                RETURNING j.name, j.epoch, j.checkpoint
            ), logged AS (
                INSERT INTO \(unescaped: schema).job_log (name, owner, epoch, action, checkpoint)
                SELECT name, \(member), epoch, 'claim', checkpoint FROM claimed
            )
            SELECT name, epoch, checkpoint FROM claimed
            """, decoding: (String, Int64, Int64).self, logger: logger
        ) {
            beat.claimedJobs[name] = JobOwnership.Claim(epoch: epoch, checkpoint: UInt64(max(0, checkpoint)))
        }
    }

    /// Gives up every partition and job at once and marks the node stopped, so that the other nodes claim them at their
    /// next heartbeat (the notification makes that at once).
    func releaseAll() async throws -> [Int32] {
        let schema = self.schema
        let (nodeID, member, channel) = (self.nodeID, self.member, self.channel)
        let bounds = self.bounds
        let released = try await store.withTrustedTransaction { transaction in
            let connection = transaction.connection
            let logger = transaction.logger
            try await bounds.apply(on: connection, logger: logger)
            var released: [Int32] = []
            for partition in try await connection.rows(
                """
                WITH released AS (
                    UPDATE \(unescaped: schema).partitions SET owner = NULL, lease_until = '-infinity'
                    WHERE owner = \(member) RETURNING partition, epoch
                ), logged AS (
                    INSERT INTO \(unescaped: schema).ownership_log (partition, owner, epoch, action)
                    SELECT partition, \(member), epoch, 'release' FROM released
                )
                SELECT partition FROM released
                """, decoding: Int32.self, logger: logger
            ) {
                released.append(partition)
            }
            try await connection.run(
                """
                WITH released AS (
                    UPDATE \(unescaped: schema).jobs SET owner = NULL, lease_until = '-infinity'
                    WHERE owner = \(member) RETURNING name, epoch, checkpoint
                )
                INSERT INTO \(unescaped: schema).job_log (name, owner, epoch, action, checkpoint)
                SELECT name, \(member), epoch, 'release', checkpoint FROM released
                """, logger: logger)
            try await connection.run(
                """
                UPDATE \(unescaped: schema).nodes SET stopped = true WHERE node_id = \(nodeID) AND member = \(member)
                """, logger: logger)
            try await connection.run("SELECT pg_notify(\(channel), 'r')", logger: logger)
            return released
        }
        ownership.clear()
        jobs.clear()
        metrics.ownedPartitions.record(0)
        metrics.releases.increment(by: Int64(released.count))
        configuration.logger.info(
            "released every partition on stopping", metadata: ["node": "\(nodeID)", "partitions": "\(released.count)"])
        return released
    }
}
