import Foundation
import PostgresNIO
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// The inbox's retention: rows whose results are older than it are deleted, oldest first; pending rows and recent
/// results stay, and a message id whose row is gone is a new command.
@Suite("Inbox retention", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct InboxRetentionTests {
    static func configuration(retention: Duration?) -> ClusterConfiguration {
        var configuration = InboxExecutorTests.configuration()
        configuration.inboxRetention = retention
        return configuration
    }

    /// Inserts one inbox row per entry (status, and for a result how many seconds ago it was recorded); returns
    /// their ids in order.
    static func insertRows(_ rows: [(status: Int16, age: Int64)], _ store: PostgresEventStore) async throws -> [Int64] {
        let cluster = "\"\(store.configuration.schema)_cluster\""
        let payload = ByteBuffer(bytes: try JSONCommandCodec<Counter.Command>().encode(.add(1)))
        var ids: [Int64] = []
        for (n, row) in rows.enumerated() {
            let id = try await store.withConnection { connection, logger in
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: cluster).inbox (message_id, partition, stream_id, aggregate_type, payload,
                        status, done_at)
                    VALUES (\(UUID()), 0, \("counter-\(n)"), 'Counter', \(payload), \(row.status),
                        CASE WHEN \(row.status) = 0 THEN NULL ELSE now() - \(row.age) * interval '1 second' END)
                    RETURNING id
                    """, logger: logger
                ).collect().first?.decode(Int64.self)
            }
            ids.append(try #require(id))
        }
        return ids
    }

    static func remainingRows(_ store: PostgresEventStore) async throws -> [Int64] {
        try await ClusterTestDatabase.query(
            "SELECT id::text FROM \"\(store.configuration.schema)_cluster\".inbox ORDER BY id",
            configuration: store.configuration
        ).compactMap { $0.flatMap { Int64($0) } }
    }

    @Test("a pass deletes the rows whose results are older than the retention; pending rows and recent results stay")
    func deletesOnlyExpiredResults() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = Self.configuration(retention: .seconds(3600))
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let node = try ClusterNode(
                nodeID: "pruner", store: store, aggregates: Counter.registry, configuration: configuration)
            let retention = try #require(node.retention)
            // With an hour's retention: accepted two hours ago, pending, rejected 62 minutes ago, accepted 10 minutes
            // ago, failed an hour and a second ago, accepted two hours ago.
            let ids = try await Self.insertRows(
                [(1, 7200), (0, 0), (2, 3720), (1, 600), (3, 3601), (1, 7200)], store)
            #expect(try await retention.pruneExpired() == 4)
            #expect(try await Self.remainingRows(store) == [ids[1], ids[3]])
            #expect(try await retention.pruneExpired() == 0)
        }
    }

    @Test("a running node deletes expired rows as it starts, and counts them")
    func aRunningNodePrunes() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = Self.configuration(retention: .seconds(3600))
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
            let ids = try await Self.insertRows([(1, 7200), (1, 7200), (0, 0)], store)
            let node = try ClusterNode(
                nodeID: "pruner", store: store, aggregates: Counter.registry, configuration: configuration)
            let (rounds, round) = AsyncStream.makeStream(of: Int.self)
            node.pruneObserver.withLock { $0 = { round.yield($0) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { round.finish() }
                    try await node.run()
                }
                var iterator = rounds.makeAsyncIterator()
                #expect(await iterator.next() == 2)
                #expect(node.statistics.inboxRowsDeleted == 2)
                #expect(try await Self.remainingRows(store) == [ids[2]])
                node.stop()
                try await group.waitForAll()
            }
        }
    }

    @Test("a pass looks at the oldest rows only: it deletes at most its size, and pending rows at the head hold it back")
    func passesAreBoundedAndOldestFirst() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: Self.configuration(retention: nil).logger)
            let retention = InboxRetention(
                store: store, schema: "\"\(store.configuration.schema)_cluster\"", retention: .seconds(60), passSize: 2)
            let ids = try await Self.insertRows([(1, 3600), (1, 3600), (1, 3600), (1, 3600), (1, 3600)], store)
            #expect(try await retention.prune() == 2)
            #expect(try await Self.remainingRows(store) == Array(ids[2...]))
            // Passes go on while each deletes a full pass.
            #expect(try await retention.pruneExpired() == 3)
            #expect(try await Self.remainingRows(store).isEmpty)
            // Two pending rows at the head: the expired row behind them waits until they have results.
            let held = try await Self.insertRows([(0, 0), (0, 0), (1, 3600)], store)
            #expect(try await retention.pruneExpired() == 0)
            #expect(try await Self.remainingRows(store) == held)
        }
    }

    @Test("once its row is deleted, a message id sent again runs again: events it appended before are not appended twice")
    func aDeletedMessageIDRunsAgain() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await InboxExecutorTests.owner(store)
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: Self.configuration(retention: nil))
            let stream = StreamID("counter-retained")
            let (added, refused) = (MessageID(), MessageID())
            func send(_ command: Counter.Command, _ id: MessageID) async throws -> ClusterClient.Ticket {
                try await client.enqueue(command, to: stream, as: Counter.self, messageID: id)
            }
            func run() async throws -> Int { try await owner.executor.runBatch(owned: owner.ownership.executable()).completed }
            let first = try await send(.add(1), added)
            #expect(try await run() == 1)
            let rejected = try await send(.subtract(5), refused)
            #expect(try await run() == 1)
            #expect(try await InboxExecutorTests.row(rejected.row, store) == "2 1")
            _ = try await send(.add(10), MessageID())
            #expect(try await run() == 1)
            // Within the retention, the same message id returns the first result and inserts nothing.
            let again = try await send(.add(1), added)
            #expect(again.row == first.row)
            #expect(again.result?.streamVersion == 1)
            let retention = InboxRetention(
                store: store, schema: "\"\(store.configuration.schema)_cluster\"", retention: .seconds(60), passSize: 100)
            #expect(try await retention.pruneExpired() == 0)
            _ = try await ClusterTestDatabase.query(
                "UPDATE \"\(store.configuration.schema)_cluster\".inbox SET done_at = now() - interval '1 hour' "
                    + "RETURNING id::text",
                configuration: store.configuration)
            #expect(try await retention.pruneExpired() == 3)
            // The accepted command's events are stored under ids derived from its message id: it fails, and the
            // stream keeps its two events (the next command makes it version 3).
            let resent = try await send(.add(1), added)
            #expect(resent.row > first.row)
            #expect(resent.result == nil)
            #expect(try await run() == 1)
            #expect(try await InboxExecutorTests.row(resent.row, store)?.hasPrefix("3 ") == true)
            // The rejected one appended nothing: it is decided again, on today's state, and accepted.
            let retried = try await send(.subtract(5), refused)
            #expect(try await run() == 1)
            #expect(try await InboxExecutorTests.row(retried.row, store) == "1 3")
        }
    }

    @Test("a retention not longer than the result timeout plus the lease is refused when the node is made")
    func refusesAShortRetention() async throws {
        try await ClusterTestDatabase.withStore { store in
            let base = Self.configuration(retention: nil)
            let shortest = base.resultTimeout + base.leaseDuration
            for retention in [Duration.zero, .seconds(-1), shortest] {
                #expect {
                    try ClusterNode(
                        nodeID: "pruner", store: store, aggregates: Counter.registry,
                        configuration: Self.configuration(retention: retention))
                } throws: { error in
                    (error as? ClusterError)?.code == .invalidConfiguration
                }
            }
            let node = try ClusterNode(
                nodeID: "pruner", store: store, aggregates: Counter.registry,
                configuration: Self.configuration(retention: shortest + .seconds(1)))
            #expect(node.retention != nil)
        }
    }

    @Test("a look-up of awaited rows tells the results recorded from the rows deleted; pending rows are neither")
    func lookUpFindsDeletedRows() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await ClusterSchema.prepare(store, partitionCount: 8, logger: Self.configuration(retention: nil).logger)
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: Self.configuration(retention: nil))
            let ids = try await Self.insertRows([(0, 0), (0, 0), (0, 0), (0, 0)], store)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            let outcome = ClusterCommandResult(
                messageID: MessageID(), outcome: .accepted, streamVersion: 1, eventCount: 1, reason: nil, state: nil,
                node: "n")
            // An earlier node's JSON, this version's binary form, and bytes in neither.
            let stored = [
                (ids[0], ByteBuffer(bytes: try JSONEncoder().encode(outcome))),
                (ids[2], try outcome.stored(as: .binary)),
                (ids[3], ByteBuffer(bytes: [7, 1, 2])),
            ]
            try await store.withConnection { connection, logger in
                for (id, encoded) in stored {
                    _ = try await connection.query(
                        "UPDATE \(unescaped: cluster).inbox SET status = 1, outcome = \(encoded) WHERE id = \(id)",
                        logger: logger
                    ).collect()
                }
            }
            let (results, missing) = try await client.fetchResults([ids[0], ids[1], ids[2], ids[3], ids[3] + 1_000])
            #expect(results.keys.sorted() == [ids[0], ids[2], ids[3]])
            #expect(try results[ids[0]]?.get() == outcome)
            #expect(try results[ids[2]]?.get() == outcome)
            #expect(throws: ClusterError.self) { try results[ids[3]]?.get() }
            if case .failure(let error) = results[ids[3]] { #expect(error.code == .malformedResult) }
            #expect(missing == [ids[3] + 1_000])
        }
    }
}
