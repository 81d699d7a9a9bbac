import Foundation
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// Jobs on a cluster whose nodes do not all register the same jobs, driven step by step as in ``ClusterJobTests``.
@Suite("Cluster job shares", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterJobShareTests {
    @Test("a live node that registered no jobs does not keep a job from running on the node that registered it")
    func aNodeWithoutJobsDoesNotHalveTheShare() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            // The service's node runs two process managers; a second node runs commands only.
            let worker = try ClusterNode(
                nodeID: "worker", store: store, aggregates: Counter.registry, configuration: configuration,
                jobs: [GatedTally(name: "alpha", gated: false), GatedTally(name: "beta", gated: false)])
            let commandsOnly = try ClusterNode(
                nodeID: "commands-only", store: store, aggregates: Counter.registry, configuration: configuration)
            try await worker.leases.register()
            try await commandsOnly.leases.register()
            _ = try await commandsOnly.leases.beat()
            _ = try await worker.leases.beat()
            _ = try await worker.leases.beat()
            // Only the worker can run either job ("spread evenly over the live nodes among those that registered
            // them"): it must hold both, or one of them runs nowhere.
            #expect(worker.ownedJobs.keys.sorted() == ["alpha", "beta"], "the worker holds \(worker.ownedJobs)")
            let unowned = try await ClusterTestDatabase.query(
                "SELECT string_agg(name, ',' ORDER BY name) FROM \"\(store.configuration.schema)_cluster\".jobs "
                    + "WHERE owner IS NULL", configuration: store.configuration)
            #expect(unowned == [nil], "jobs that no node runs: \(unowned)")
        }
    }
}
