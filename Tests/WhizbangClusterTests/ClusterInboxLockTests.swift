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
        try await ClusterTestDatabase.withStore { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            // ROW EXCLUSIVE is what an insert in flight holds; the lock is let go only once the preparation returned.
            // Before, the preparation's `CREATE INDEX IF NOT EXISTS` asked for SHARE first and waited for it, until
            // the request deadline failed it.
            try await withInboxLocked("ROW EXCLUSIVE", store) {
                try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            }
        }
    }

    @Test("a heartbeat renews its leases at once while the inbox cannot be read; only the depth metric waits")
    func beatWithAnInboxThatCannotBeRead() async throws {
        try await ClusterTestDatabase.withStore { store in
            let node = try ClusterNode(
                nodeID: "beating", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster())
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            try await node.leases.register()
            _ = try await node.leases.beat()
            // The first heartbeat's count ends (nothing holds it up), so that the next one starts a count of its own.
            while node.leases.depthCount.isCounting { await Task.yield() }
            // Another session holds the inbox locked, as a long migration or a `LOCK TABLE` would: a count of the
            // pending commands waits for it until the lock is let go, after the heartbeat.
            try await withInboxLocked("ACCESS EXCLUSIVE", store) {
                // Before, the count ran inside the leases' transaction, and the heartbeat failed with it at the
                // request deadline; then after it, and the heartbeat waited for it (20.0 s with a 20 s deadline).
                let beat = try await node.leases.beat()
                #expect(beat.owned.count == 8)
                // The heartbeat returned while its count still waits: it did not wait for it.
                #expect(node.leases.depthCount.isCounting)
            }
        }
    }
}
