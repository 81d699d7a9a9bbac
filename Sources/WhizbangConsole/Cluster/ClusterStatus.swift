/// The nodes of a cluster running on the store and who owns which partition, as the console shows them.
///
/// The console does not read a cluster itself (it knows only the `EventStore` protocol); the code that mounts it
/// supplies a reader through ``ConsoleConfiguration/clusterStatus`` — for WhizbangCluster, a read-only query of its
/// `nodes` and `partitions` tables. Ages are measured on the database's clock, so that the console's clock does not
/// matter.
public struct ClusterStatus: Sendable, Codable, Hashable {
    /// One node of the cluster.
    public struct Node: Sendable, Codable, Hashable {
        /// The node's configured id.
        public var nodeID: String
        /// The process that holds the id now (a restarted node is a new member).
        public var member: String
        /// Seconds since the node's last heartbeat.
        public var secondsSinceHeartbeat: Double
        /// Whether the node said it stopped.
        public var stopped: Bool
        /// The lease the node renews at each heartbeat, in seconds; `nil` when its row records none (a node of an
        /// earlier release).
        public var secondsOfLease: Double?

        /// Whether the node, which did not say it stopped, has sent no heartbeat for longer than its lease: it died,
        /// or it is paused or cut off. The leases of its partitions, renewed with each heartbeat, have run out; other
        /// nodes may claim them. `false` when the lease is not known. (The JSON API leaves it out: it is
        /// `secondsSinceHeartbeat > secondsOfLease` for a node that has not stopped.)
        public var isSilent: Bool {
            guard !stopped, let secondsOfLease else { return false }
            return secondsSinceHeartbeat > secondsOfLease
        }

        /// A node as its row reads.
        public init(
            nodeID: String, member: String, secondsSinceHeartbeat: Double, stopped: Bool,
            secondsOfLease: Double? = nil
        ) {
            self.nodeID = nodeID
            self.member = member
            self.secondsSinceHeartbeat = secondsSinceHeartbeat
            self.stopped = stopped
            self.secondsOfLease = secondsOfLease
        }
    }

    /// One partition and its owner.
    public struct Partition: Sendable, Codable, Hashable {
        /// The partition's number.
        public var partition: Int
        /// The member that holds its lease, or `nil` if none ever did or the last one released it.
        public var owner: String?
        /// The fencing token: bumped at every claim.
        public var epoch: Int64
        /// Seconds until the lease ends; 0 or less once it has.
        public var secondsOfLeaseLeft: Double

        /// A partition as its row reads.
        public init(partition: Int, owner: String?, epoch: Int64, secondsOfLeaseLeft: Double) {
            self.partition = partition
            self.owner = owner
            self.epoch = epoch
            self.secondsOfLeaseLeft = secondsOfLeaseLeft
        }
    }

    /// The nodes, in the order of their ids.
    public var nodes: [Node]
    /// The partitions, in the order of their numbers.
    public var partitions: [Partition]

    /// A status of `nodes` and `partitions`.
    public init(nodes: [Node], partitions: [Partition]) {
        self.nodes = nodes
        self.partitions = partitions
    }
}
