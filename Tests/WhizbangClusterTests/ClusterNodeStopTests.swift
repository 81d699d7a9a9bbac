import Foundation
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node asked to stop at an awkward moment.
@Suite("Cluster node probes", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(1)))
struct ClusterNodeProbeTests {
    @Test("stop() called just before run() begins is not lost: run() returns")
    func aStopBeforeRunIsKept() async throws {
        try await ClusterTestDatabase.withStore { store in
            let node = try ClusterNode(
                nodeID: "early-stop", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster())
            // A shutdown signal arrives while the task that runs the node has not started yet.
            node.stop()
            let returned = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    _ = try? await node.run()
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(15))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            #expect(returned, "run() was still running 15 s after stop() (heartbeats every 20 s)")
        }
    }
}
