import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node asked to stop before its run begins: run() cleared the request and ran on until the next stop.
@Suite("Cluster node stop before run", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterNodeStopTests {
    @Test("stop() called before run() begins is kept: run() returns at once, and the next run runs")
    func aStopBeforeRunIsKept() async throws {
        try await ClusterTestDatabase.withStore { store in
            let node = try ClusterNode(
                nodeID: "early-stop", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster())
            // A shutdown signal arrives while the task that runs the node has not started yet.
            node.stop()
            try await node.run()
            #expect(node.ownedPartitions.isEmpty)
            // The stop was used up: a later run claims partitions until it is stopped.
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (beats, beat) = AsyncStream.makeStream(of: LeaseKeeper.Beat.self)
                node.beatObserver.withLock { $0 = { beat.yield($0) } }
                group.addTask {
                    defer { beat.finish() }
                    try await node.run()
                }
                var iterator = beats.makeAsyncIterator()
                let first = try #require(await iterator.next(), "the second run stopped before its first heartbeat")
                #expect(!first.claimed.isEmpty)
                node.beatObserver.withLock { $0 = nil }
                node.stop()
                try await group.waitForAll()
            }
        }
    }
}
