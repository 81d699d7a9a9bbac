/// Which jobs a node claims and which it gives up at a heartbeat: each job goes to the least loaded of the live nodes
/// that registered it, so that no job is left without an owner whatever jobs each node registered, and the jobs of
/// nodes that registered the same ones spread evenly (their counts differ by at most one).
///
/// A node claims a free job it registered unless another live node that registered it holds fewer jobs; it gives up
/// a job it holds when another live node that registered it holds at least two fewer. Nodes decide alone, each from
/// the counts of its heartbeat's transaction; two that claim at once are kept apart by the claim's row locks, and
/// a node that took too many gives the excess up at a later heartbeat.
struct JobPlacement: Equatable {
    /// A live node that registered any of this node's jobs.
    struct Node: Equatable {
        var jobs: Set<String>
        /// The jobs it holds now.
        var load: Int
    }

    /// Free jobs to claim, in name order.
    var claim: [String] = []
    /// Held jobs to give up, the last by name first.
    var release: [String] = []

    /// Decides for node `member`, which registered `registered`, holds `held` (not counting jobs it is already giving
    /// up), and sees `free` jobs without a live owner and the live `nodes` (itself included or not).
    init(member: String, registered: Set<String>, held: [String], free: [String], nodes: [String: Node]) {
        var loads = nodes.mapValues(\.load)
        loads[member] = held.count
        /// The least loaded other live node that registered `job`, and its load.
        func leastLoadedOther(_ job: String) -> (member: String, load: Int)? {
            nodes.compactMap { other -> (String, Int)? in
                guard other.key != member, other.value.jobs.contains(job) else { return nil }
                return (other.key, loads[other.key] ?? other.value.load)
            }.min { ($0.1, $0.0) < ($1.1, $1.0) }
        }
        var load = held.count
        for job in free.sorted() where registered.contains(job) {
            if let other = leastLoadedOther(job), other.load < load { continue }
            claim.append(job)
            load += 1
        }
        for job in held.sorted(by: >) {
            guard let other = leastLoadedOther(job), other.load <= load - 2 else { continue }
            release.append(job)
            load -= 1
            loads[other.member, default: other.load] += 1
        }
    }
}
