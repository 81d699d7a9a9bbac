import NIOCore
import PostgresNIO
import Testing
import WhizbangPostgres

@testable import WhizbangCluster

/// The limits of the cluster's own transactions: a paused or cut-off node's heartbeat cannot hold its partitions'
/// rows (which other nodes skip when they claim) past half a lease, whatever the store's own settings.
@Suite("Cluster transaction bounds", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct TransactionBoundsTests {
    @Test("the limit is half a lease, unless the store's statement and idle limits are as low already")
    func theLimitIsHalfALease() throws {
        var cluster = ClusterConfiguration()
        cluster.leaseDuration = .seconds(10)
        var store = try ClusterTestDatabase.configuration()
        #expect(TransactionBounds(store: store, cluster: cluster).milliseconds == 5_000)
        store.statementTimeout = .seconds(4)
        #expect(TransactionBounds(store: store, cluster: cluster).milliseconds == 5_000)
        store.idleInTransactionTimeout = .seconds(5)
        #expect(TransactionBounds(store: store, cluster: cluster).milliseconds == nil)
        store.idleInTransactionTimeout = .seconds(6)
        #expect(TransactionBounds(store: store, cluster: cluster).milliseconds == 5_000)
        // PostgreSQL takes at most Int32.max milliseconds: a lease meant as never gives that.
        cluster.leaseDuration = .seconds(Int64.max)
        store.statementTimeout = nil
        #expect(TransactionBounds(store: store, cluster: cluster).milliseconds == Int64(Int32.max))
    }

    /// Before, nothing in the cluster set these limits: on a store configured without them, a node paused inside
    /// its heartbeat kept its partitions' rows locked for as long as the pause (or TCP keepalive) lasted.
    @Test("a transaction left idle after the limits are set is ended by the server")
    func anIdleTransactionIsEnded() async throws {
        try await ClusterTestDatabase.withStore { store in
            var cluster = ClusterTestDatabase.cluster()
            cluster.heartbeatInterval = .milliseconds(100)
            cluster.leaseDuration = .milliseconds(600)
            let bounds = TransactionBounds(store: store.configuration, cluster: cluster)
            #expect(bounds.milliseconds == 300)
            await #expect(throws: (any Error).self) {
                try await store.withTrustedTransaction { transaction in
                    try await bounds.apply(on: transaction.connection, logger: transaction.logger)
                    // Idle in the transaction, as a paused node is: the server ends the session.
                    try await transaction.connection.closeFuture.get()
                }
            }
            // The store goes on with its other connections.
            _ = try await store.headPosition()
        }
    }
}
