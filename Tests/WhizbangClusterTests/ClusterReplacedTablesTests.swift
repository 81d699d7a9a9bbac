import Foundation
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node whose store's tables were dropped and made again while the store's listening connection, and with it the
/// lock that keeps drops out, was lost: its batches write nothing into the new tables.
@Suite("Cluster batches on replaced store tables", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterReplacedTablesTests {
    @Test("a node's batch into store tables dropped and made again since its store opened them is refused")
    func batchRefused() async throws {
        var configuration = try ClusterTestDatabase.configuration()
        configuration.listenerReconnectDelay = .seconds(90)
        defer { Task { [configuration] in try? await ClusterTestDatabase.drop(configuration) } }
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let running = Task { try await store.run() }
        do {
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
            let node = try ClusterNode(
                nodeID: "first", store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await node.leases.register()
            #expect(try await node.leases.beat().claimed.count == 8)
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            _ = try await client.enqueue(Counter.Command.add(5), to: "counter-1", as: Counter.self)

            // The store's listening session ends; with it goes the lock that keeps drops out. Its tables are dropped
            // and another store makes them again and appends one event.
            let schema = configuration.schema
            let ended = try await ClusterTestDatabase.query(
                """
                SELECT pg_terminate_backend(l.pid)::text FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.classid = \(0x5768_697A + 2)::oid
                    AND l.objid = (hashtext('\(schema)')::bigint & 4294967295)::oid AND l.objsubid = 2
                    AND l.mode = 'ShareLock' AND l.granted
                """,
                configuration: configuration)
            #expect(ended == ["true"])
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
            let second = try PostgresEventStore(configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await second.run() }
                _ = try await second.append(
                    [EventData(eventType: "Added", data: Data("{\"amount\":1}".utf8))], to: "other-1",
                    expectedVersion: .noStream)
                second.close()
                try await group.waitForAll()
            }

            // The node's store refuses the batch and closes; the command stays pending, nothing reaches the new log.
            let refused = await #expect(throws: EventStoreError.self) {
                _ = try await node.executor.runBatch(owned: node.ownership.executable())
            }
            #expect(refused?.code == .closed, "\(String(describing: refused))")
            let streams = try await ClusterTestDatabase.query(
                "SELECT s.stream_id FROM \"\(schema)\".events e JOIN \"\(schema)\".streams s USING (stream_key) "
                    + "ORDER BY e.position",
                configuration: configuration)
            #expect(streams == ["other-1"])
            let pending = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \"\(schema)_cluster\".inbox WHERE status = 0", configuration: configuration)
            #expect(pending == ["1"])
        }
        // The store closed itself, and says why.
        let stopped = await #expect(throws: EventStoreError.self) { try await running.value }
        #expect(stopped?.code == .closed)
    }
}
