import CoreMetrics

/// The metrics of a node, through swift-metrics, each with the dimension `node`:
/// - `whizbang_cluster_owned_partitions` (gauge): partitions the node owns after its last heartbeat;
/// - `whizbang_cluster_inbox_depth` (gauge): pending commands in the whole inbox, at the last heartbeat;
/// - `whizbang_cluster_claims` (counter): partitions claimed, each a handover when another node owned it before;
/// - `whizbang_cluster_releases` (counter): partitions released;
/// - `whizbang_cluster_fence_rejections` (counter): batches the fence refused;
/// - `whizbang_cluster_commands` (counter): commands run (accepted, rejected or failed);
/// - `whizbang_cluster_inbox_deleted` (counter): inbox rows deleted past ``ClusterConfiguration/inboxRetention``.
///
/// Clients record `whizbang_cluster_command_duration` (timer): from sending a command to receiving its result.
struct ClusterMetrics: Sendable {
    let ownedPartitions: Gauge
    let inboxDepth: Gauge
    let claims: Counter
    let releases: Counter
    let fenceRejections: Counter
    let commandsRun: Counter
    let inboxDeleted: Counter

    init(node: String) {
        let dimensions = [("node", node)]
        ownedPartitions = Gauge(label: "whizbang_cluster_owned_partitions", dimensions: dimensions)
        inboxDepth = Gauge(label: "whizbang_cluster_inbox_depth", dimensions: dimensions)
        claims = Counter(label: "whizbang_cluster_claims", dimensions: dimensions)
        releases = Counter(label: "whizbang_cluster_releases", dimensions: dimensions)
        fenceRejections = Counter(label: "whizbang_cluster_fence_rejections", dimensions: dimensions)
        commandsRun = Counter(label: "whizbang_cluster_commands", dimensions: dimensions)
        inboxDeleted = Counter(label: "whizbang_cluster_inbox_deleted", dimensions: dimensions)
    }
}
