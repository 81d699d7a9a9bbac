import CoreMetrics
import Logging
public import ServiceLifecycle
import Synchronization
import Whizbang
public import WhizbangPostgres

/// One service instance of a cluster: it owns a fair share of the partitions, leased and fenced in PostgreSQL, and
/// runs the inbox commands of the streams in them.
///
/// Any number of nodes share one PostgreSQL database, and nothing else: no coordinator, no broker. Every heartbeat
/// (``ClusterConfiguration/heartbeatInterval``) a node renews its leases and claims unowned or expired partitions up
/// to `ceil(partitions / live nodes)`, each claim bumping the partition's epoch. It runs its partitions' pending
/// commands in batches, each batch one transaction that first checks that every partition involved is still its own
/// at the epoch it claimed (the fence), so a node that was paused past its lease, or cut off, writes nothing once
/// another node has claimed its partitions. See the design article for the reasoning.
///
/// A node can also run *jobs*: projections and process managers (any `Projection`) that must run on
/// exactly one node of the cluster. Jobs are leased like partitions, in the same heartbeat, spread evenly over the
/// live nodes among those that registered them, and move when their node dies. Each job's checkpoint is kept in the
/// cluster's tables, not in the store, and moved by a write fenced by the job's epoch: an owner paused past its lease
/// cannot move it once another node claimed the job. Delivery is at least once — the next owner applies again what
/// a dead or fenced owner applied without moving the checkpoint — so a process manager sends its commands with ids
/// derived from its name and the event (``ClusterClient/commandID(job:event:step:)``), which the inbox runs once.
///
/// The node is a ServiceLifecycle `Service`. Graceful shutdown finishes the batch in flight, releases every
/// partition at once and marks the node stopped, so that the other nodes take over within moments; cancellation
/// stops at once, and the leases then expire after ``ClusterConfiguration/leaseDuration``. Run it in a
/// `ServiceGroup` after the store, so that it stops first.
public final class ClusterNode: Service, Sendable {
    /// The node's id, unique among the live nodes of the cluster.
    public let nodeID: String
    /// The cluster's configuration.
    public let configuration: ClusterConfiguration
    /// The store whose database holds the cluster.
    public let store: PostgresEventStore

    /// The member name of this process: the node id and a random suffix, so that a restarted node is a new owner.
    let member: String
    let ownership = Ownership()
    let executor: InboxExecutor
    let leases: LeaseKeeper
    let metrics: ClusterMetrics
    let jobOwnership = JobOwnership()
    let jobRunners: [String: JobRunner]
    private let jobWakes: [String: Wakeup]
    private let jobsWake = Wakeup()
    private let executorWake = Wakeup()
    private let leaseWake = Wakeup()
    private let retentionWake = Wakeup()
    /// Deletes expired inbox rows; `nil` without ``ClusterConfiguration/inboxRetention``.
    let retention: InboxRetention?
    private let stopping = Atomic(false)
    private let counters = Mutex(Statistics())
    /// Called after each successful heartbeat; for tests that must know the node is running.
    let beatObserver = Mutex<(@Sendable (LeaseKeeper.Beat) -> Void)?>(nil)
    /// Called with the rows each round of the retention loop deleted; for tests.
    let pruneObserver = Mutex<(@Sendable (Int) -> Void)?>(nil)
    /// What must hold for the node to start; see ``StartCheck``.
    private let startCheck: StartCheck?

    /// A check that a node's ``run()`` makes at its start, in the transaction in which it creates the cluster's tables
    /// or finds them, before it registers itself and its jobs.
    ///
    /// The check runs last in that transaction, so the cluster's tables exist; it reads and writes on the
    /// transaction's connection, and what it writes commits with the tables, once the check has returned. When it
    /// throws, the transaction rolls back — a cluster that this start would have created is not created — and
    /// ``run()`` ends with its error, unregistered. It runs at every start, and within the store's
    /// `requestTimeout`, as the whole transaction does.
    ///
    /// This is how a node is kept from joining a cluster on a condition that another process must not change
    /// between the check and the node's start: take, in the check, the lock that process holds
    /// (`pg_try_advisory_xact_lock`), and record what that process looks for before it starts.
    public typealias StartCheck = @Sendable (PostgresStoreTransaction) async throws -> Void

    /// What a node has done since it started.
    public struct Statistics: Sendable, Hashable {
        /// Commands whose result this node recorded.
        public var commandsRun = 0
        /// Batches that recorded at least one result.
        public var batches = 0
        /// Batches the fence refused.
        public var fenceRejections = 0
        /// Partitions claimed.
        public var claims = 0
        /// Partitions released.
        public var releases = 0
        /// Jobs claimed.
        public var jobClaims = 0
        /// Job checkpoint writes the fence refused.
        public var jobFenceRejections = 0
        /// Inbox rows deleted past ``ClusterConfiguration/inboxRetention``.
        public var inboxRowsDeleted = 0
    }

    /// Creates a node of the cluster on `store`'s database; nothing happens until ``run()``.
    ///
    /// - Parameters:
    ///   - nodeID: 1 to 64 ASCII letters, digits, `.`, `_` or `-`; unique among the live nodes.
    ///   - store: the PostgreSQL store whose database holds the cluster's tables and the events.
    ///   - aggregates: the aggregate types the node runs commands for.
    ///   - configuration: partitions, leases, heartbeats and batch sizes; every node of a cluster uses the same.
    ///   - jobs: the projections and process managers this node may run, each on one node of the cluster at a time;
    ///     their names must be unique (1 to 200 characters). Their `checkpointStorage` is not
    ///     used: the cluster keeps each job's checkpoint, fenced by its epoch. `apply(_:)`
    ///     must be idempotent, or send commands with derived ids (delivery is at least once); an error it throws is
    ///     logged and the batch applied again after a pause.
    ///   - startCheck: what must hold for the node to start (``StartCheck``); `nil` for nothing.
    /// - Throws: ``ClusterError/Code/invalidConfiguration`` for a bad node id, job name or configuration value.
    public init(
        nodeID: String, store: PostgresEventStore, aggregates: ClusterAggregates,
        configuration: ClusterConfiguration = .init(), jobs: [any Projection] = [], startCheck: StartCheck? = nil
    ) throws {
        try configuration.validate()
        var names: Set<String> = []
        for job in jobs {
            guard (1...200).contains(job.name.count), names.insert(job.name).inserted else {
                throw ClusterError(
                    .invalidConfiguration,
                    message: "job name '\(job.name.prefix(80))' must be 1 to 200 characters and unique among the node's jobs")
            }
        }
        let allowed = nodeID.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard (1...64).contains(nodeID.utf8.count), allowed else {
            throw ClusterError(
                .invalidConfiguration,
                message: "node id '\(nodeID)' must be 1 to 64 ASCII letters, digits, '.', '_' or '-'")
        }
        self.nodeID = nodeID
        self.store = store
        self.startCheck = startCheck
        self.configuration = configuration
        let member = "\(nodeID)#\(String(UInt32.random(in: .min ... .max), radix: 16))"
        self.member = member
        let metrics = ClusterMetrics(node: nodeID)
        self.metrics = metrics
        self.executor = InboxExecutor(
            store: store, aggregates: aggregates, configuration: configuration, nodeID: nodeID, member: member,
            metrics: metrics)
        let schema = "\"\(ClusterSchema.name(forStore: store.configuration.schema))\""
        self.leases = LeaseKeeper(
            store: store, configuration: configuration, nodeID: nodeID, member: member, ownership: ownership,
            jobs: jobOwnership, jobNames: jobs.map(\.name).sorted(), metrics: metrics, schema: schema,
            channel: ClusterSchema.channel(forStore: store.configuration.schema))
        var runners: [String: JobRunner] = [:]
        var wakes: [String: Wakeup] = [:]
        for job in jobs {
            runners[job.name] = JobRunner(
                store: store, job: job, configuration: configuration, nodeID: nodeID, member: member, schema: schema)
            wakes[job.name] = Wakeup()
        }
        self.jobRunners = runners
        self.jobWakes = wakes
        self.retention = configuration.inboxRetention.map {
            InboxRetention(store: store, schema: schema, retention: $0, passSize: 2_000)
        }
    }

    /// What the node has done since it started.
    public var statistics: Statistics { counters.withLock { $0 } }

    /// The partitions the node owns now, with their epochs.
    public var ownedPartitions: [Int: Int64] {
        Dictionary(uniqueKeysWithValues: ownership.owned.map { (Int($0.key), $0.value) })
    }

    /// The jobs the node owns now, with their epochs.
    public var ownedJobs: [String: Int64] { jobOwnership.owned }

    /// Creates the cluster's tables if missing, registers the node, and runs it until graceful shutdown or
    /// cancellation: heartbeats and claims, and runs the inbox commands of its partitions.
    ///
    /// A ``stop()`` that comes while the node is not running applies to its next run, which then returns at once
    /// without registering the node.
    ///
    /// - Throws: ``ClusterError`` — `partitionCountMismatch`, `foreignSchema`, `damagedSchema` or `nodeAlreadyLive`
    ///   (the node does not start and changes nothing); what the ``StartCheck`` threw (the node does not start, and
    ///   nothing of the check's transaction is written); `EventStoreError` when the database cannot be reached at
    ///   start. Once started, failed heartbeats and batches are logged and retried; the node keeps running.
    public func run() async throws {
        let logger = configuration.logger
        if stopping.exchange(false, ordering: .acquiringAndReleasing) {
            logger.info("node stopped before it started", metadata: ["node": "\(nodeID)"])
            return
        }
        // The stop that ends this run does not carry over to the next one.
        defer { stopping.store(false, ordering: .releasing) }
        let form = try await ClusterSchema.prepare(
            store, partitionCount: configuration.partitionCount, logger: logger, check: startCheck)
        executor.resultForm.withLock { $0 = form }
        try await leases.register()
        logger.info("node started", metadata: ["node": "\(nodeID)", "member": "\(member)"])
        let channel = ClusterSchema.channel(forStore: store.configuration.schema)
        enum Finished { case listener, leases, executor, jobs, retention }
        try await withThrowingTaskGroup(of: Finished.self) { group in
            group.addTask {
                await self.store.listen(on: channel) { payload in self.notified(payload) }
                return .listener
            }
            group.addTask {
                try await self.leaseLoop()
                return .leases
            }
            group.addTask {
                await self.executorLoop()
                return .executor
            }
            group.addTask {
                await self.jobLoop()
                return .jobs
            }
            if let retention {
                group.addTask {
                    await self.retentionLoop(retention)
                    return .retention
                }
            }
            let loopCount = retention == nil ? 3 : 4
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    var loops = 0
                    while loops < loopCount, let finished = try await group.next() {
                        if finished != .listener { loops += 1 }
                        self.stop()
                    }
                } onGracefulShutdown: {
                    self.stop()
                }
            } onCancel: {
                self.stop()
            }
            group.cancelAll()
        }
        guard !Task.isCancelled else { return }
        let released = try await leases.releaseAll()
        counters.withLock { $0.releases += released.count }
    }

    /// Asks the node to stop: the batches in flight finish, then ``run()`` releases the partitions and returns. If
    /// the node is not running, its next ``run()`` returns at once.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        executorWake.signal()
        leaseWake.signal()
        retentionWake.signal()
        wakeJobs()
    }

    private func wakeJobs() {
        jobsWake.signal()
        for wake in jobWakes.values { wake.signal() }
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) || Task.isCancelled }

    private func notified(_ payload: String?) {
        guard let payload else {
            executor.inserted(from: nil)
            executorWake.signal()
            leaseWake.signal()
            wakeJobs()
            return
        }
        if payload.hasPrefix("d") {
            // Commands were recorded, so the log has new events.
            for wake in jobWakes.values { wake.signal() }
        } else if payload == "r" {
            leaseWake.signal()
        } else if let insert = Self.insert(in: payload),
            insert.partition.map({ ownership.owned[$0] != nil }) ?? true
        {
            executor.inserted(from: insert.first)
            executorWake.signal()
        }
    }

    /// What an insert notification says: the lowest row id the insert added (`a<row id>`, any partition), or, from
    /// an older client, the partition and the lowest row id it added there (`i<partition>:<row id>`, or
    /// `i<partition>` without an id). `nil` for any other payload.
    static func insert(in payload: String) -> (partition: Int32?, first: Int64?)? {
        if payload.hasPrefix("a") {
            guard let first = Int64(payload.dropFirst()) else { return nil }
            return (nil, first)
        }
        guard payload.hasPrefix("i") else { return nil }
        let parts = payload.dropFirst().split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let partition = parts.first.flatMap({ Int32($0) }) else { return nil }
        return (partition, parts.count == 2 ? Int64(parts[1]) : nil)
    }

    private func leaseLoop() async throws {
        let logger = configuration.logger
        while !isStopping {
            var wait = configuration.heartbeatInterval
            do {
                let beat = try await leases.beat()
                wait = beat.delayUntilNextBeat(heartbeatInterval: configuration.heartbeatInterval)
                counters.withLock {
                    $0.claims += beat.claimed.count
                    $0.releases += beat.released.count
                    $0.jobClaims += beat.claimedJobs.count
                }
                if !beat.claimed.isEmpty { executorWake.signal() }
                if !beat.claimedJobs.isEmpty || !beat.releasedJobs.isEmpty { jobsWake.signal() }
                beatObserver.withLock { $0 }?(beat)
            } catch let error as ClusterError where error.code == .nodeAlreadyLive {
                logger.error("\(error.message)", metadata: ["node": "\(nodeID)"])
                throw error
            } catch {
                if isStopping { return }
                logger.warning("heartbeat failed", metadata: ["node": "\(nodeID)", "error": "\(error)"])
            }
            await leaseWake.wait(upTo: wait)
        }
        guard !Task.isCancelled else { return }
        // Stopping: release at once the partitions without a batch in flight; run() releases the rest when the
        // batch ends.
        ownership.releaseEverything()
        do {
            let beat = try await leases.beat(claiming: false)
            counters.withLock { $0.releases += beat.released.count }
        } catch {
            logger.debug("releasing partitions early on stopping failed", metadata: ["node": "\(nodeID)", "error": "\(error)"])
        }
    }

    /// Deletes expired inbox rows once per heartbeat interval, until the node stops; a failure is logged and tried
    /// again at the next interval.
    private func retentionLoop(_ retention: InboxRetention) async {
        let logger = configuration.logger
        while !isStopping {
            do {
                let deleted = try await retention.pruneExpired { !self.isStopping }
                if deleted > 0 {
                    counters.withLock { $0.inboxRowsDeleted += deleted }
                    metrics.inboxDeleted.increment(by: Int64(deleted))
                    logger.debug("deleted expired inbox rows", metadata: ["node": "\(nodeID)", "rows": "\(deleted)"])
                }
                pruneObserver.withLock { $0 }?(deleted)
            } catch {
                if isStopping { return }
                logger.warning("deleting expired inbox rows failed", metadata: ["node": "\(nodeID)", "error": "\(error)"])
            }
            await retentionWake.wait(upTo: configuration.heartbeatInterval)
        }
    }

    private func executorLoop() async {
        let logger = configuration.logger
        var failures = 0
        while !isStopping {
            let owned = ownership.executable()
            guard !owned.isEmpty else {
                await executorWake.wait(upTo: configuration.pollInterval)
                continue
            }
            ownership.setInFlight(Set(owned.keys))
            do {
                // Once the batch's rows are fetched, only their partitions are in flight: the others can be
                // released meanwhile (a stopping node releases them at once).
                let report = try await executor.runBatch(owned: owned) { self.ownership.setInFlight($0) }
                ownership.setInFlight([])
                failures = 0
                counters.withLock {
                    $0.commandsRun += report.completed
                    if report.completed > 0 { $0.batches += 1 }
                }
                if report.fetched == 0 { await executorWake.wait(upTo: configuration.pollInterval) }
            } catch let rejection as InboxExecutor.FenceRejection {
                ownership.setInFlight([])
                ownership.lose(rejection.lost)
                counters.withLock { $0.fenceRejections += 1 }
                leaseWake.signal()
            } catch {
                ownership.setInFlight([])
                if isStopping { return }
                failures += 1
                logger.warning("batch failed; its commands stay pending", metadata: ["node": "\(nodeID)", "error": "\(error)"])
                // Back off a little after repeated failures: the database is likely unavailable.
                await executorWake.wait(upTo: min(configuration.pollInterval, .milliseconds(50) * (1 << min(failures, 5))))
            }
        }
    }

    /// Starts a runner for each job the node owns and does not run yet, until the node stops; then cancels the
    /// runners and waits for them, for at most ``ClusterConfiguration/leaseDuration`` in all.
    ///
    /// Each runner is a task of its own, not a child of this one: a projection or process manager that ignores
    /// cancellation would otherwise keep the node from stopping and releasing its leases. One that is still running
    /// at the limit is left behind with a warning; its checkpoint commit is fenced once its lease is released.
    private func jobLoop() async {
        var runners: [String: Task<Void, Never>] = [:]
        while !isStopping {
            for (name, claim) in jobOwnership.runnable() {
                guard let runner = jobRunners[name], let wake = jobWakes[name],
                    jobOwnership.setRunning(name, true)
                else { continue }
                runners[name] = Task {
                    let ending = await runner.run(epoch: claim.epoch, from: claim.checkpoint, wake: wake) {
                        !self.isStopping && self.jobOwnership.mayRun(name, epoch: claim.epoch)
                    }
                    _ = self.jobOwnership.setRunning(name, false)
                    if ending == .fenced {
                        self.jobOwnership.lose(name, epoch: claim.epoch)
                        self.counters.withLock { $0.jobFenceRejections += 1 }
                        self.metrics.fenceRejections.increment()
                    }
                    // A job marked for release is released by a heartbeat at once, so that its next owner
                    // need not wait for the next interval.
                    if self.jobOwnership.releasable().contains(name) { self.leaseWake.signal() }
                    self.jobsWake.signal()
                }
            }
            await jobsWake.wait(upTo: configuration.pollInterval)
        }
        // A batch in flight may wait for commands that only this stopping node would run: cancel it rather than
        // wait. Its checkpoint does not move, and the job's next owner applies it again.
        for runner in runners.values { runner.cancel() }
        let deadline = ContinuousClock.now + configuration.leaseDuration
        for (name, runner) in runners.sorted(by: { $0.key < $1.key }) {
            // A runner that has ended is seen as ended even once the time is up.
            let left = max(deadline - ContinuousClock.now, .milliseconds(10))
            guard await !BoundedWait.finish(runner, upTo: left) else { continue }
            configuration.logger.warning(
                "job did not stop when cancelled; the node stops without it, and its lease is released",
                metadata: ["node": "\(nodeID)", "job": "\(name)", "limit": "\(configuration.leaseDuration)"])
        }
    }
}
