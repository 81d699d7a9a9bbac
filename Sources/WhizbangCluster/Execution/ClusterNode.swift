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
    private let executorWake = Wakeup()
    private let leaseWake = Wakeup()
    private let stopping = Atomic(false)
    private let counters = Mutex(Statistics())
    /// Called after each successful heartbeat; for tests that must know the node is running.
    let beatObserver = Mutex<(@Sendable (LeaseKeeper.Beat) -> Void)?>(nil)

    /// What a node has done since it started.
    public struct Statistics: Sendable, Hashable {
        /// Commands whose result this node recorded.
        public var commandsRun = 0
        /// Batches the fence refused.
        public var fenceRejections = 0
        /// Partitions claimed.
        public var claims = 0
        /// Partitions released.
        public var releases = 0
    }

    /// Creates a node of the cluster on `store`'s database; nothing happens until ``run()``.
    ///
    /// - Parameters:
    ///   - nodeID: 1 to 64 ASCII letters, digits, `.`, `_` or `-`; unique among the live nodes.
    ///   - store: the PostgreSQL store whose database holds the cluster's tables and the events.
    ///   - aggregates: the aggregate types the node runs commands for.
    ///   - configuration: partitions, leases, heartbeats and batch sizes; every node of a cluster uses the same.
    /// - Throws: ``ClusterError/Code/invalidConfiguration`` for a bad node id or configuration value.
    public init(
        nodeID: String, store: PostgresEventStore, aggregates: ClusterAggregates,
        configuration: ClusterConfiguration = .init()
    ) throws {
        try configuration.validate()
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
        self.configuration = configuration
        let member = "\(nodeID)#\(String(UInt32.random(in: .min ... .max), radix: 16))"
        self.member = member
        let metrics = ClusterMetrics(node: nodeID)
        self.metrics = metrics
        self.executor = InboxExecutor(
            store: store, aggregates: aggregates, configuration: configuration, nodeID: nodeID, member: member,
            metrics: metrics)
        self.leases = LeaseKeeper(
            store: store, configuration: configuration, nodeID: nodeID, member: member, ownership: ownership,
            metrics: metrics, schema: "\"\(ClusterSchema.name(forStore: store.configuration.schema))\"",
            channel: ClusterSchema.channel(forStore: store.configuration.schema))
    }

    /// What the node has done since it started.
    public var statistics: Statistics { counters.withLock { $0 } }

    /// The partitions the node owns now, with their epochs.
    public var ownedPartitions: [Int: Int64] {
        Dictionary(uniqueKeysWithValues: ownership.owned.map { (Int($0.key), $0.value) })
    }

    /// Creates the cluster's tables if missing, registers the node, and runs it until graceful shutdown or
    /// cancellation: heartbeats and claims, and runs the inbox commands of its partitions.
    ///
    /// - Throws: ``ClusterError`` — `partitionCountMismatch` or `nodeAlreadyLive` (the node does not start and
    ///   changes nothing); `EventStoreError` when the database cannot be reached at start. Once started, failed
    ///   heartbeats and batches are logged and retried; the node keeps running.
    public func run() async throws {
        stopping.store(false, ordering: .releasing)
        let logger = configuration.logger
        try await ClusterSchema.prepare(store, partitionCount: configuration.partitionCount, logger: logger)
        try await leases.register()
        logger.info("node started", metadata: ["node": "\(nodeID)", "member": "\(member)"])
        let channel = ClusterSchema.channel(forStore: store.configuration.schema)
        enum Finished { case listener, leases, executor }
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
            try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    var loops = 0
                    while loops < 2, let finished = try await group.next() {
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

    /// Asks the node to stop: the batch in flight finishes, then ``run()`` releases the partitions and returns.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        executorWake.signal()
        leaseWake.signal()
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) || Task.isCancelled }

    private func notified(_ payload: String?) {
        guard let payload else {
            executorWake.signal()
            leaseWake.signal()
            return
        }
        if payload == "r" {
            leaseWake.signal()
        } else if payload.hasPrefix("i"), let partition = Int32(payload.dropFirst()) {
            if ownership.owned[partition] != nil { executorWake.signal() }
        }
    }

    private func leaseLoop() async throws {
        let logger = configuration.logger
        while !isStopping {
            do {
                let beat = try await leases.beat()
                counters.withLock {
                    $0.claims += beat.claimed.count
                    $0.releases += beat.released.count
                }
                if !beat.claimed.isEmpty { executorWake.signal() }
                beatObserver.withLock { $0 }?(beat)
            } catch let error as ClusterError where error.code == .nodeAlreadyLive {
                logger.error("\(error.message)", metadata: ["node": "\(nodeID)"])
                throw error
            } catch {
                if isStopping { return }
                logger.warning("heartbeat failed", metadata: ["node": "\(nodeID)", "error": "\(error)"])
            }
            await leaseWake.wait(upTo: configuration.heartbeatInterval)
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
                let report = try await executor.runBatch(owned: owned)
                ownership.setInFlight([])
                failures = 0
                counters.withLock { $0.commandsRun += report.completed }
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
}
