import Testing

@testable import WhizbangCluster

/// Which jobs a node claims and gives up, from the counts of its heartbeat: no job is left without an owner whatever
/// jobs each node registered, and nodes that registered the same jobs hold counts that differ by at most one.
@Suite("Job placement")
struct JobPlacementTests {
    typealias Node = JobPlacement.Node

    /// Runs heartbeats of `registered` nodes in turn, as the database would see them, until nothing changes; returns
    /// each node's jobs.
    func settle(_ registered: [String: Set<String>], rounds: Int = 10) -> [String: Set<String>] {
        var held: [String: Set<String>] = registered.mapValues { _ in [] }
        for _ in 0..<rounds {
            var changed = false
            for member in registered.keys.sorted() {
                let owners = held.values.reduce(into: Set<String>()) { $0.formUnion($1) }
                let free = registered.values.reduce(into: Set<String>()) { $0.formUnion($1) }.subtracting(owners)
                let nodes = registered.mapValues { Node(jobs: $0, load: 0) }.merging(
                    held.mapValues { Node(jobs: [], load: $0.count) }
                ) { node, counts in Node(jobs: node.jobs, load: counts.load) }
                let placement = JobPlacement(
                    member: member, registered: registered[member]!, held: Array(held[member]!), free: Array(free),
                    nodes: nodes)
                held[member]!.formUnion(placement.claim)
                held[member]!.subtract(placement.release)
                changed = changed || !placement.claim.isEmpty || !placement.release.isEmpty
            }
            if !changed { break }
        }
        return held
    }

    @Test("overlapping job sets leave no job without an owner")
    func overlappingSets() {
        let held = settle(["x": ["a", "b"], "y": ["b", "c"], "z": ["c", "d"]])
        #expect(held.values.reduce(0) { $0 + $1.count } == 4)
        #expect(held.values.reduce(into: Set<String>()) { $0.formUnion($1) } == ["a", "b", "c", "d"])
        for (member, jobs) in held { #expect(jobs.isSubset(of: ["x": ["a", "b"], "y": ["b", "c"], "z": ["c", "d"]][member]!)) }
    }

    @Test("a node whose jobs are a subset of another's takes its part")
    func subsetSets() {
        let held = settle(["x": ["a", "b", "c", "d"], "y": ["a"]])
        #expect(held["y"] == ["a"])
        #expect(held["x"] == ["b", "c", "d"])
    }

    @Test("nodes of the same jobs hold counts that differ by at most one; a node without jobs takes none")
    func sameSets() {
        let jobs: Set<String> = ["a", "b", "c", "d", "e"]
        let held = settle(["x": jobs, "y": jobs, "z": jobs, "commands-only": []])
        #expect(held["commands-only"] == [])
        let counts = ["x", "y", "z"].map { held[$0]!.count }
        #expect(counts.reduce(0, +) == 5)
        #expect(counts.max()! - counts.min()! <= 1)
    }

    @Test("a node alone takes every job it registered; a second node of the same jobs is handed half")
    func handOver() {
        let alone = JobPlacement(member: "x", registered: ["a", "b"], held: [], free: ["a", "b"], nodes: [:])
        #expect(alone.claim == ["a", "b"])
        let crowded = JobPlacement(
            member: "x", registered: ["a", "b"], held: ["a", "b"], free: [],
            nodes: ["x": Node(jobs: ["a", "b"], load: 2), "y": Node(jobs: ["a", "b"], load: 0)])
        #expect(crowded.release == ["b"])
        #expect(crowded.claim.isEmpty)
    }
}
