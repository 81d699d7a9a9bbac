import Foundation
import PostgresNIO
import PostgresTesting
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// A node's batches driven step by step: results taken back when an append is refused, and fetches that start past
/// the rows already run without missing one that commits below them.
@Suite("Inbox executor", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct InboxExecutorTests {
    /// The tests' cluster configuration, with a poll interval longer than any test, so that no fetch starts at the
    /// inbox's first row unless the test makes it.
    static func configuration() -> ClusterConfiguration {
        var configuration = ClusterTestDatabase.cluster()
        configuration.pollInterval = .seconds(600)
        return configuration
    }

    /// A node that owns every partition, heartbeating only when the test says.
    static func owner(_ store: PostgresEventStore, configuration: ClusterConfiguration = configuration()) async throws
        -> ClusterNode
    {
        let form = try await ClusterSchema.prepare(store, partitionCount: 8, logger: configuration.logger)
        let owner = try ClusterNode(nodeID: "owner", store: store, aggregates: Counter.registry, configuration: configuration)
        owner.executor.resultForm.withLock { $0 = form }
        try await owner.leases.register()
        _ = try await owner.leases.beat()
        return owner
    }

    static func row(_ id: Int64, _ store: PostgresEventStore) async throws -> String? {
        try await ClusterTestDatabase.query(
            "SELECT status::text || ' ' || coalesce(\"\(store.configuration.schema)_cluster\".result_json(outcome)"
                + "->>'streamVersion', '-') FROM \"\(store.configuration.schema)_cluster\".inbox WHERE id = \(id)",
            configuration: store.configuration
        ).first ?? nil
    }

    @Test("an append refused for its version takes the batch's results back; the command runs again on the stream")
    func staleStateRunsAgain() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let stream = StreamID("counter-stale")
            _ = try await client.enqueue(Counter.Command.add(5), to: stream, as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            // Another writer appends behind the node's back: the state the node cached is one version behind.
            _ = try await store.append(
                [EventData(eventType: "Added", data: Data(#"{"amount":1}"#.utf8))], to: stream, expectedVersion: .exact(1))
            let ticket = try await client.enqueue(Counter.Command.add(1), to: stream, as: Counter.self)
            let stale = try await owner.executor.runBatch(owned: owner.ownership.executable())
            #expect(stale.fetched == 1)
            #expect(stale.completed == 0)
            #expect(try await Self.row(ticket.row, store) == "0 -")
            let again = try await owner.executor.runBatch(owned: owner.ownership.executable())
            #expect(again.completed == 1)
            #expect(try await Self.row(ticket.row, store) == "1 3")
            #expect(try await store.streamVersion(of: stream) == 3)
        }
    }

    /// A batch is committed by the cluster's procedure in the exchange of its call: a commit that fails (here a
    /// deferred constraint trigger on the events) fails the batch, and nothing of it is written.
    @Test("a batch whose commit fails is not reported run, and its commands stay pending")
    func aBatchWhoseCommitFailsStaysPending() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let stream = StreamID("counter-refused")
            let ticket = try await client.enqueue(Counter.Command.add(5), to: stream, as: Counter.self)
            let schema = "\"\(store.configuration.schema)\""
            _ = try await ClusterTestDatabase.query(
                """
                CREATE FUNCTION \(schema).refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused at commit'; END $$
                """, configuration: store.configuration)
            _ = try await ClusterTestDatabase.query(
                """
                CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON \(schema).events
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_at_commit()
                """, configuration: store.configuration)
            await #expect(throws: (any Error).self) {
                _ = try await owner.executor.runBatch(owned: owner.ownership.executable())
            }
            #expect(try await Self.row(ticket.row, store) == "0 -")
            #expect(try await store.streamVersion(of: stream) == 0)
            _ = try await ClusterTestDatabase.query(
                "DROP TRIGGER refuse_at_commit ON \(schema).events", configuration: store.configuration)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await Self.row(ticket.row, store) == "1 1")
        }
    }

    /// A command whose events the database refuses (here a trigger's exception, as a value over one of its limits
    /// would be) failed the whole batch again and again: every other command of the node's partitions waited.
    @Test(
        "a command the database refuses is found by smaller batches and fails alone; the others commit",
        arguments: [0, 3])
    func aRefusedCommandFailsAloneAndTheOthersCommit(before: Int) async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let schema = "\"\(store.configuration.schema)\""
            _ = try await ClusterTestDatabase.query(
                """
                CREATE FUNCTION \(schema).refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF position('666' in convert_from(NEW.data, 'UTF8')) > 0 THEN RAISE EXCEPTION 'refused'; END IF;
                    RETURN NEW;
                END $$
                """, configuration: store.configuration)
            _ = try await ClusterTestDatabase.query(
                """
                CREATE TRIGGER refuse_666 BEFORE INSERT ON \(schema).events
                    FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_666()
                """, configuration: store.configuration)
            var others: [ClusterClient.Ticket] = []
            for index in 0..<before {
                others.append(
                    try await client.enqueue(Counter.Command.add(1), to: StreamID("before-\(index)"), as: Counter.self))
            }
            let refused = try await client.enqueue(Counter.Command.add(666), to: "refused", as: Counter.self)
            for index in 0..<4 {
                others.append(
                    try await client.enqueue(Counter.Command.add(1), to: StreamID("after-\(index)"), as: Counter.self))
            }
            var refusals = 0
            var completed = 0
            for _ in 0..<20 where completed < before + 5 {
                do {
                    completed += try await owner.executor.runBatch(owned: owner.ownership.executable()).completed
                } catch {
                    refusals += 1
                }
            }
            #expect(completed == before + 5)
            #expect(refusals <= 8)
            let failed = try await Self.result(refused.messageID, client)
            #expect(failed.outcome == .failed)
            #expect(failed.reason?.contains("refused") == true)
            for ticket in others { #expect(try await Self.row(ticket.row, store) == "1 1") }
            #expect(try await store.streamVersion(of: "refused") == 0)
        }
    }

    /// With every append refused (a trigger, writes frozen for maintenance), a batch of a command the aggregate
    /// rejected commits, since it appends nothing; it was taken as proof that the database takes other commands, and
    /// the refused command was failed for good.
    @Test("when the database refuses every append, a commit of rejections alone fails no command")
    func rejectionsAloneAreNoEvidence() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let schema = "\"\(store.configuration.schema)\""
            _ = try await ClusterTestDatabase.query(
                """
                CREATE FUNCTION \(schema).refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'writes are frozen'; END $$
                """, configuration: store.configuration)
            _ = try await ClusterTestDatabase.query(
                """
                CREATE TRIGGER refuse_all BEFORE INSERT ON \(schema).events
                    FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_all()
                """, configuration: store.configuration)
            let added = try await client.enqueue(Counter.Command.add(1), to: "counter-frozen", as: Counter.self)
            let rejected = try await client.enqueue(Counter.Command.subtract(1), to: "counter-empty", as: Counter.self)
            for _ in 0..<10 { _ = try? await owner.executor.runBatch(owned: owner.ownership.executable()) }
            #expect(try await Self.row(rejected.row, store) == "2 0")
            #expect(try await Self.row(added.row, store) == "0 -")
            // Once the database takes appends again, the command runs.
            _ = try await ClusterTestDatabase.query(
                "DROP TRIGGER refuse_all ON \(schema).events", configuration: store.configuration)
            var completed = 0
            for _ in 0..<10 where completed == 0 {
                completed += (try? await owner.executor.runBatch(owned: owner.ownership.executable()).completed) ?? 0
            }
            #expect(try await Self.row(added.row, store) == "1 1")
        }
    }

    /// An inbox row for `add(1)` on `stream`, inserted in a transaction that has drawn its id and commits only when
    /// `commit` is called: a row that becomes visible below rows inserted after it.
    static func insertCommittingLast(to stream: StreamID, _ store: PostgresEventStore) async throws
        -> (row: Int64, commit: @Sendable () async throws -> Void)
    {
        let cluster = "\"\(store.configuration.schema)_cluster\""
        let partition = Int32(StableHash.partition(of: stream, count: 8))
        let payload = ByteBuffer(bytes: try JSONCommandCodec<Counter.Command>().encode(.add(1)))
        let (inserted, insertedRow) = AsyncStream<Int64>.makeStream()
        let (commit, committing) = AsyncStream<Void>.makeStream()
        let transaction = Task {
            defer { insertedRow.finish() }
            try await store.withTransaction { transaction in
                for try await id in try await transaction.connection.query(
                    """
                    INSERT INTO \(unescaped: cluster).inbox (message_id, partition, stream_id, aggregate_type, payload)
                    VALUES (\(UUID()), \(partition), \(stream.rawValue), 'Counter', \(payload)) RETURNING id
                    """, logger: transaction.logger
                ).decode(Int64.self) {
                    insertedRow.yield(id)
                }
                for await _ in commit { break }
            }
        }
        var rows = inserted.makeAsyncIterator()
        guard let row = await rows.next() else {
            try await transaction.value
            throw CancellationError()
        }
        return (row, {
            committing.yield()
            try await transaction.value
        })
    }

    static func result(_ messageID: MessageID, _ client: ClusterClient) async throws -> ClusterCommandResult {
        try await client.result(of: messageID, timeout: TestPatience.success)
    }

    @Test("an append refused for an event id stored elsewhere fails its command alone; its stream's next runs")
    func aDuplicateEventIDFailsItsCommandAlone() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let stream = StreamID("counter-duplicate")
            let first = MessageID()
            // The event id the first command's event will have, already stored on another stream.
            _ = try await store.append(
                [
                    EventData(
                        eventID: InboxExecutor.eventID(for: first, index: 0), eventType: "Added",
                        data: Data(#"{"amount":9}"#.utf8))
                ], to: "elsewhere", expectedVersion: .noStream)

            // Alone in its batch: the command fails and the batch's other stream commits.
            _ = try await client.enqueue(Counter.Command.add(1), to: stream, as: Counter.self, messageID: first)
            let other = try await client.enqueue(Counter.Command.add(4), to: StreamID("counter-other"), as: Counter.self)
            let batch = try await owner.executor.runBatch(owned: owner.ownership.executable())
            #expect(batch.completed == 2)
            let failed = try await Self.result(first, client)
            #expect(failed.outcome == .failed)
            #expect(failed.reason?.contains("commandFailed") == true)
            // The stream's version, which the refused event did not change (it said 1).
            #expect(failed.streamVersion == 0)
            #expect(try await Self.row(other.row, store) == "1 1")

            // With a later command of its stream in the batch: both wait, then run one per batch.
            let second = MessageID()
            _ = try await store.append(
                [
                    EventData(
                        eventID: InboxExecutor.eventID(for: second, index: 0), eventType: "Added",
                        data: Data(#"{"amount":9}"#.utf8))
                ], to: "elsewhere", expectedVersion: .exact(1))
            _ = try await client.enqueue(Counter.Command.add(2), to: stream, as: Counter.self, messageID: second)
            let third = try await client.enqueue(Counter.Command.add(3), to: stream, as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 0)
            #expect(try await Self.row(third.row, store) == "0 -")
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await Self.result(second, client).outcome == .failed)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await Self.row(third.row, store) == "1 1")
            #expect(try await store.streamVersion(of: stream) == 1)
        }
    }

    @Test("commands whose message ids follow one another keep their events' ids apart, in one batch or in two")
    func adjacentMessageIDsKeepTheirEventIDsApart() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            // Message ids made in one millisecond by one process differ by one in their low half.
            let first = MessageID()
            let ids = (0..<4).map { MessageID(high: first.high, low: first.low &+ UInt64($0)) }

            // On two streams, in two batches.
            _ = try await client.enqueue(Counter.Command.addTwice(1), to: "pair-a", as: Counter.self, messageID: ids[0])
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            _ = try await client.enqueue(Counter.Command.addTwice(1), to: "pair-b", as: Counter.self, messageID: ids[1])
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await Self.result(ids[1], client).outcome == .accepted)

            // On one stream, in one batch.
            _ = try await client.enqueue(Counter.Command.addTwice(1), to: "pair-c", as: Counter.self, messageID: ids[2])
            _ = try await client.enqueue(Counter.Command.addTwice(1), to: "pair-c", as: Counter.self, messageID: ids[3])
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 2)
            #expect(try await store.streamVersion(of: "pair-c") == 4)
            let stored = try await store.readStream("pair-c", from: 1, direction: .forwards, limit: 10).map(\.eventID)
            #expect(stored == (try await Self.result(ids[2], client).eventIDs + Self.result(ids[3], client).eventIDs))
        }
    }

    @Test("a command whose events the store would refuse fails at once; the batch's other commands commit")
    func eventsTheStoreRefusesFailTheirCommand() async throws {
        // Room for a counter event's data, not for the node's metadata beside it.
        try await ClusterTestDatabase.withStore(adjusting: { $0.maximumPayloadBytes = 40 }) { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let (added, refused) = (MessageID(), MessageID())
            _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-big"), as: Counter.self, messageID: added)
            _ = try await client.enqueue(
                Counter.Command.subtract(1), to: StreamID("counter-empty"), as: Counter.self, messageID: refused)
            let batch = try await owner.executor.runBatch(owned: owner.ownership.executable())
            #expect(batch.completed == 2)
            let failed = try await Self.result(added, client)
            #expect(failed.outcome == .failed)
            #expect(failed.reason?.contains("commandFailed") == true)
            #expect(try await Self.result(refused, client).outcome == .rejected)
            #expect(try await store.headPosition() == 0)
        }
    }

    @Test("a fetch takes the pending rows of the given partitions only, oldest first, from its start, up to the limit; with every partition too")
    func fetchTakesThePartitionsPendingRowsInOrder() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let cluster = "\"\(store.configuration.schema)_cluster\""
            let payload = ByteBuffer(bytes: try JSONCommandCodec<Counter.Command>().encode(.add(1)))
            // 24 rows over partitions 0 to 3 in turn; every third one already has its result.
            var rows: [(id: Int64, partition: Int32, pending: Bool)] = []
            for n in 0..<24 {
                let partition = Int32(n % 4)
                let status: Int16 = n % 3 == 0 ? 1 : 0
                let id = try await store.withConnection { connection, logger in
                    try await connection.query(
                        """
                        INSERT INTO \(unescaped: cluster).inbox (message_id, partition, stream_id, aggregate_type, payload,
                            status)
                        VALUES (\(UUID()), \(partition), \("counter-\(n)"), 'Counter', \(payload), \(status)) RETURNING id
                        """, logger: logger
                    ).collect().first?.decode(Int64.self)
                }
                rows.append((try #require(id), partition, status == 0))
            }
            let cases: [(partitions: [Int32], start: Int64, limit: Int)] = [
                ([1, 3], 0, 100), ([3, 1], rows[9].id, 3), ([0, 1, 2, 3], rows[5].id, 5), ([2], 0, 1), ([0], rows[23].id, 4),
                // Every partition of the cluster (8), as a node alone holds them.
                (Array(0..<8), 0, 100), (Array(0..<8), rows[5].id, 5), (Array((0..<8).reversed()), rows[12].id, 100),
            ]
            for (partitions, start, limit) in cases {
                let expected = rows.filter { $0.pending && partitions.contains($0.partition) && $0.id >= start }
                    .prefix(limit).map(\.id)
                let fetched = try await owner.executor.fetch(partitions, from: start, limit: limit)
                #expect(fetched.map(\.id) == expected, "partitions \(partitions) from \(start), limit \(limit)")
                #expect(fetched.allSatisfy { partitions.contains($0.partition) })
            }
        }
    }

    @Test("a row that commits below where the last fetch ended runs once its insert's notification arrives")
    func lateInsertBelowTheCursor() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            // The client's first send prepares the cluster's tables, which waits for open inserts: send one first.
            _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-first"), as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            let late = try await Self.insertCommittingLast(to: "counter-late", store)
            let lateRow = late.row
            let early = try await client.enqueue(Counter.Command.add(2), to: StreamID("counter-early"), as: Counter.self)
            #expect(early.row > lateRow)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            try await late.commit()
            // The next fetch starts after the early row: without the insert's notification it does not look lower.
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).fetched == 0)
            owner.executor.inserted(from: lateRow)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            #expect(try await Self.row(lateRow, store) == "1 1")
        }
    }

    /// A batch is one message to the server, and the store refuses an append past `maximumAppendBytes`; the batch
    /// counted commands, not bytes, and such a refusal was not taken for one: the same rows were fetched and refused
    /// again, and every command of the node's partitions behind them waited for ever.
    @Test("a batch takes the streams that fit in maximumBatchBytes; a command that cannot fit fails alone")
    func batchesAreBoundedInBytes() async throws {
        try await ClusterTestDatabase.withStore { store in
            var configuration = Self.configuration()
            // One `add` sends about 180 bytes (its event with the node's metadata, and its result); `addTwice`, 350.
            configuration.maximumBatchBytes = 300
            let owner = try await Self.owner(store, configuration: configuration)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            var tickets: [ClusterClient.Ticket] = []
            for index in 0..<3 {
                tickets.append(
                    try await client.enqueue(Counter.Command.add(1), to: StreamID("small-\(index)"), as: Counter.self))
            }
            // One stream fits in a batch; the others wait for the next ones.
            for _ in 0..<3 {
                let batch = try await owner.executor.runBatch(owned: owner.ownership.executable())
                #expect(batch.completed == 1)
            }
            for ticket in tickets { #expect(try await Self.row(ticket.row, store) == "1 1") }
            // Three commands of one stream fit only one by one: one per batch.
            for _ in 0..<3 { _ = try await client.enqueue(Counter.Command.add(1), to: "one", as: Counter.self) }
            var completed = 0
            for _ in 0..<6 where completed < 3 {
                completed += try await owner.executor.runBatch(owned: owner.ownership.executable()).completed
            }
            #expect(completed == 3)
            #expect(try await store.streamVersion(of: "one") == 3)
            // A command whose own events and result do not fit fails alone, with the reason.
            let large = try await client.enqueue(Counter.Command.addTwice(1), to: "large", as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            let failed = try await Self.result(large.messageID, client)
            #expect(failed.outcome == .failed && failed.reason?.contains("maximumBatchBytes") == true, "\(failed)")
            #expect(try await store.streamVersion(of: "large") == 0)
        }
    }

    /// The client of a row committed late below the cursor is told it was inserted and may send its stream's next
    /// command at once; the fetch that found that next command ran it first, and the late row after it, on the
    /// state the later command left, unless the late row's notification had been read before.
    @Test("a row committed late below the cursor runs before its stream's next command, with no notification")
    func lateInsertRunsBeforeItsStreamsNextCommand() async throws {
        try await ClusterTestDatabase.withStore { store in
            let owner = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let late = StreamID("counter-late-order")
            _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-first"), as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            let insert = try await Self.insertCommittingLast(to: late, store)
            let lateRow = insert.row
            _ = try await client.enqueue(Counter.Command.add(2), to: StreamID("counter-early"), as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 1)
            try await insert.commit()
            // The late row's client sends the stream's next command; no notification reaches the node.
            let next = try await client.enqueue(Counter.Command.add(10), to: late, as: Counter.self)
            #expect(try await owner.executor.runBatch(owned: owner.ownership.executable()).completed == 2)
            #expect(try await Self.row(lateRow, store) == "1 1")
            #expect(try await Self.row(next.row, store) == "1 2")
            let events = try await store.readStream(late, from: 1, direction: .forwards, limit: 10)
            #expect(events.map { String(decoding: $0.data, as: UTF8.self) } == [#"{"amount":1}"#, #"{"amount":10}"#])
        }
    }

    @Test("the client's insert notifies the lowest row it inserted, as the node reads it")
    func insertNotificationNamesTheRow() async throws {
        try await ClusterTestDatabase.withStore { store in
            _ = try await Self.owner(store)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: Self.configuration())
            let (payloads, received) = AsyncStream<String?>.makeStream()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await store.listen(on: ClusterSchema.channel(forStore: store.configuration.schema)) {
                        received.yield($0)
                    }
                }
                var iterator = payloads.makeAsyncIterator()
                // The listener calls with nil once it listens.
                _ = await iterator.next()
                let stream = StreamID("counter-notified")
                let ticket = try await client.enqueue(Counter.Command.add(1), to: stream, as: Counter.self)
                var insert: (partition: Int32?, first: Int64?)? = nil
                while insert == nil, let payload = await iterator.next() {
                    insert = payload.flatMap { ClusterNode.insert(in: $0) }
                }
                #expect(insert != nil)
                #expect(insert?.partition == nil)
                #expect(insert?.first == ticket.row)
                // An older client's notifications name the partition.
                #expect(ClusterNode.insert(in: "i3:7")?.partition == 3)
                #expect(ClusterNode.insert(in: "i3:7")?.first == 7)
                #expect(ClusterNode.insert(in: "i3")?.partition == 3)
                #expect(ClusterNode.insert(in: "i3")?.first == nil)
                #expect(ClusterNode.insert(in: "d1,2") == nil)
                #expect(ClusterNode.insert(in: "ax") == nil)
                group.cancelAll()
            }
        }
    }
}
