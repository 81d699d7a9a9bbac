import Foundation
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node's heartbeat and a cluster's preparation go on while another session holds the inbox locked.
@Suite("Cluster work beside a locked inbox", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterInboxLockTests {
    /// Runs `body` while another session holds the cluster's inbox locked in `mode`.
    func withInboxLocked(
        _ mode: String, _ store: PostgresEventStore, _ body: () async throws -> Void
    ) async throws {
        let lock = try await InboxLock.lock(store.configuration, mode: mode)
        do {
            try await body()
            try await lock.release()
        } catch {
            try? await lock.release()
            throw error
        }
    }

    @Test("preparing a cluster that exists does not wait for the inbox's writers")
    func prepareBesideAWriter() async throws {
        try await ClusterTestDatabase.withStore(adjusting: { $0.requestTimeout = .seconds(3) }) { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            // ROW EXCLUSIVE is what an insert in flight holds. Before, the preparation's `CREATE INDEX IF NOT
            // EXISTS` asked for SHARE first and waited for it, past the request deadline.
            try await withInboxLocked("ROW EXCLUSIVE", store) {
                try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            }
        }
    }

    @Test("a heartbeat renews its leases at once while the inbox cannot be read; only the depth metric waits")
    func beatWithAnInboxThatCannotBeRead() async throws {
        try await ClusterTestDatabase.withStore(adjusting: { $0.requestTimeout = .seconds(20) }) { store in
            let node = try ClusterNode(
                nodeID: "beating", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster())
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            try await node.leases.register()
            _ = try await node.leases.beat()
            // Another session holds the inbox locked, as a long migration or a `LOCK TABLE` would: a count of the
            // pending commands waits for it past the store's request deadline.
            try await withInboxLocked("ACCESS EXCLUSIVE", store) {
                // Before, the count ran inside the leases' transaction, and the heartbeat failed with it; then,
                // after it, and the heartbeat waited for it: the next renewals came a request deadline late.
                let start = ContinuousClock.now
                let beat = try await node.leases.beat()
                #expect(beat.owned.count == 8)
                #expect(ContinuousClock.now - start < .seconds(10), "the heartbeat waited for the inbox's count")
            }
        }
    }
}
