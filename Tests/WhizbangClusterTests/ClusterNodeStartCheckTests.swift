import Foundation
import PostgresNIO
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node's start check (``ClusterNode/StartCheck``): it runs last in the transaction that creates the cluster's
/// tables, so a refusal creates nothing, and what it writes commits with them.
@Suite("Cluster node start check", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterNodeStartCheckTests {
    struct Refused: Error {}

    final class Checks: Sendable {
        let count = Mutex(0)
    }

    @Test("a start check that throws ends run() with its error, and nothing of the cluster is created")
    func aRefusingCheckCreatesNothing() async throws {
        try await ClusterTestDatabase.withStore { store in
            let cluster = "\(store.configuration.schema)_cluster"
            let node = try ClusterNode(
                nodeID: "refused", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster(),
                startCheck: { transaction in
                    // The cluster's tables exist by now, in the transaction the refusal rolls back.
                    _ = try await transaction.connection.rows(
                        "SELECT count(*) FROM \(unescaped: "\"\(cluster)\"").jobs", logger: transaction.logger)
                    throw Refused()
                })
            await #expect(throws: Refused.self) { try await node.run() }
            let schemas = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM pg_namespace WHERE nspname = '\(cluster)'",
                configuration: store.configuration)
            #expect(schemas == ["0"])
        }
    }

    @Test("what a start check writes commits with the cluster's tables, before the node registers")
    func aPassingCheckWritesWithTheTables() async throws {
        try await ClusterTestDatabase.withStore { store in
            let cluster = "\"\(store.configuration.schema)_cluster\""
            let checks = Checks()
            let node = try ClusterNode(
                nodeID: "checked", store: store, aggregates: Counter.registry,
                configuration: ClusterTestDatabase.cluster(),
                startCheck: { transaction in
                    checks.count.withLock { $0 += 1 }
                    // The node is not registered yet.
                    let nodes = try await transaction.connection.rows(
                        "SELECT count(*)::bigint FROM \(unescaped: cluster).nodes", decoding: Int64.self,
                        logger: transaction.logger
                    ).first
                    #expect(nodes == 0)
                    try await transaction.connection.run(
                        "INSERT INTO \(unescaped: cluster).jobs (name) VALUES ('recorded-by-check')",
                        logger: transaction.logger)
                })
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (beats, beat) = AsyncStream.makeStream(of: LeaseKeeper.Beat.self)
                node.beatObserver.withLock { $0 = { beat.yield($0) } }
                group.addTask {
                    defer { beat.finish() }
                    try await node.run()
                }
                var iterator = beats.makeAsyncIterator()
                _ = try #require(await iterator.next(), "the node stopped before its first heartbeat")
                node.beatObserver.withLock { $0 = nil }
                node.stop()
                try await group.waitForAll()
            }
            #expect(checks.count.withLock { $0 } == 1)
            let jobs = try await ClusterTestDatabase.query(
                "SELECT name FROM \(cluster).jobs WHERE name = 'recorded-by-check'", configuration: store.configuration)
            #expect(jobs == ["recorded-by-check"])
        }
    }
}
