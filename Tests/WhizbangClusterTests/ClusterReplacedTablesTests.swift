import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node whose store's tables were dropped and made again while the store's listening connection, and with it the
/// lock that keeps drops out, was lost: its batches write nothing into the new tables.
@Suite("Cluster batches on replaced store tables", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterReplacedTablesTests {
    /// Ends the session of the store's listening connection, and with it the lock that keeps drops out; drops the
    /// store's tables, and lets another store make them again and append one event to `other-1`.
    static func replaceTables(_ configuration: PostgresEventStore.Configuration) async throws {
        let ended = try await ClusterTestDatabase.query(
            """
            SELECT pg_terminate_backend(l.pid)::text FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.classid = \(0x5768_697A + 2)::oid
                AND l.objid = (hashtext('\(configuration.schema)')::bigint & 4294967295)::oid AND l.objsubid = 2
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
    }

    /// The stream of each event in the store's log, in order.
    static func streams(_ configuration: PostgresEventStore.Configuration) async throws -> [String?] {
        let schema = "\"\(configuration.schema)\""
        return try await ClusterTestDatabase.query(
            "SELECT s.stream_id FROM \(schema).events e JOIN \(schema).streams s USING (stream_key) "
                + "ORDER BY e.position",
            configuration: configuration)
    }

    /// A store on a fresh schema whose listener, once lost, stays away for the whole test.
    static func awayConfiguration() throws -> PostgresEventStore.Configuration {
        var configuration = try ClusterTestDatabase.configuration()
        configuration.listenerReconnectDelay = .seconds(90)
        return configuration
    }

    /// A running store of ``awayConfiguration()``, a node on it that owns every partition (driven step by step),
    /// and a client.
    struct Fixture {
        let configuration: PostgresEventStore.Configuration
        let store: PostgresEventStore
        let running: Task<Void, any Error>
        let node: ClusterNode
        let client: ClusterClient

        init() async throws {
            configuration = try ClusterReplacedTablesTests.awayConfiguration()
            store = try PostgresEventStore(configuration: configuration)
            let store = store
            running = Task { try await store.run() }
            do {
                try await ClusterSchema.prepare(store, partitionCount: 8, logger: ClusterTestDatabase.cluster().logger)
                node = try ClusterNode(
                    nodeID: "first", store: store, aggregates: Counter.registry,
                    configuration: ClusterTestDatabase.cluster())
                try await node.leases.register()
                #expect(try await node.leases.beat().claimed.count == 8)
                client = try ClusterClient(
                    store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            } catch {
                store.close()
                running.cancel()
                try? await ClusterTestDatabase.drop(configuration)
                throw error
            }
        }

        /// The commands still pending in the inbox.
        var pending: [String?] {
            get async throws {
                try await ClusterTestDatabase.query(
                    "SELECT count(*)::text FROM \"\(configuration.schema)_cluster\".inbox WHERE status = 0",
                    configuration: configuration)
            }
        }

        func close() {
            store.close()
            running.cancel()
            Task { [configuration] in try? await ClusterTestDatabase.drop(configuration) }
        }
    }

    @Test("a node's batch into store tables dropped and made again since its store opened them is refused")
    func batchRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        _ = try await fixture.client.enqueue(Counter.Command.add(5), to: "counter-1", as: Counter.self)

        try await Self.replaceTables(fixture.configuration)

        // The node's store refuses the batch and closes; the command stays pending, nothing reaches the new log.
        let refused = await #expect(throws: EventStoreError.self) {
            _ = try await fixture.node.executor.runBatch(owned: fixture.node.ownership.executable())
        }
        #expect(refused?.code == .closed, "\(String(describing: refused))")
        #expect(try await Self.streams(fixture.configuration) == ["other-1"])
        #expect(try await fixture.pending == ["1"])
        // The store closed itself, and says why.
        let stopped = await #expect(throws: EventStoreError.self) { try await fixture.running.value }
        #expect(stopped?.code == .closed)
    }

    @Test("a node's batch that appends nothing is refused too when its store's tables were replaced")
    func batchWithoutEventsRefused() async throws {
        let fixture = try await Fixture()
        defer { fixture.close() }
        let node = fixture.node
        // The node runs a command and keeps counter-1's state (5) in its cache.
        _ = try await fixture.client.enqueue(Counter.Command.add(5), to: "counter-1", as: Counter.self)
        #expect(try await node.executor.runBatch(owned: node.ownership.executable()).completed == 1)

        try await Self.replaceTables(fixture.configuration)
        // Refused from the cached state: no event to append, only a result to record, decided on the old tables.
        _ = try await fixture.client.enqueue(Counter.Command.subtract(10), to: "counter-1", as: Counter.self)
        let refused = await #expect(throws: EventStoreError.self) {
            _ = try await node.executor.runBatch(owned: node.ownership.executable())
        }
        #expect(refused?.code == .closed, "\(String(describing: refused))")
        #expect(try await fixture.pending == ["1"])
        let rejections = try await ClusterTestDatabase.query(
            "SELECT count(*)::text FROM \"\(fixture.configuration.schema)_cluster\".fence_rejections",
            configuration: fixture.configuration)
        #expect(rejections == ["0"])
    }

    @Test("a running node whose store found its tables replaced stops, and its run says why")
    func runningNodeStops() async throws {
        let configuration = try Self.awayConfiguration()
        defer { Task { [configuration] in try? await ClusterTestDatabase.drop(configuration) } }
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let running = Task { try await store.run() }
        defer { running.cancel() }
        let node = try ClusterNode(
            nodeID: "first", store: store, aggregates: Counter.registry,
            configuration: ClusterTestDatabase.cluster())
        let (beats, beat) = AsyncStream.makeStream(of: LeaseKeeper.Beat.self)
        node.beatObserver.withLock { $0 = { beat.yield($0) } }
        let nodeRun = Task {
            defer { beat.finish() }
            try await node.run()
        }
        defer { nodeRun.cancel() }
        var iterator = beats.makeAsyncIterator()
        let first = try #require(await iterator.next(), "the node stopped before its first heartbeat")
        #expect(first.claimed.count == 8)
        node.beatObserver.withLock { $0 = nil }

        try await Self.replaceTables(configuration)
        let client = try ClusterClient(
            store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
        _ = try await client.enqueue(Counter.Command.add(5), to: "counter-1", as: Counter.self)

        // The node's batch is refused and closes the store; the node stops, and its run ends with the store's error.
        let stopped = await #expect(throws: EventStoreError.self) { try await nodeRun.value }
        #expect(stopped?.code == .closed, "\(String(describing: stopped))")
        #expect(try await Self.streams(configuration) == ["other-1"])
    }
}
