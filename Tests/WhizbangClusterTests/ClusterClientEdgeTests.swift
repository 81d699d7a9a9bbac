import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// The client at its edges: one message id sent at once to several streams (every send but one was told its
/// command was in, and seven commands never ran), a send before the client runs (it inserted, then failed), and
/// result waits held past their time limit by the poll interval or a look-up the database does not answer.
@Suite("Cluster client edges", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct ClusterClientEdgeTests {
    @Test("one message id sent at once to several streams is taken once; the other sends fail conflictingMessageID")
    func concurrentSendsOfOneIDToOtherStreamsConflict() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            // Prepares the cluster's tables, so that the sends below go straight to the inserter.
            _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("warm-up"), as: Counter.self)
            // Holds the inbox so that an unrelated insert waits in the server, and the sends of the shared id queue
            // behind it: they then go together in the next multi-row insert.
            let lock = try await InboxLock.lock(store.configuration)
            let shared = MessageID()
            let outcomes = try await withThrowingTaskGroup(of: Swift.Result<ClusterClient.Ticket, any Error>?.self) {
                group in
                group.addTask {
                    _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("blocker"), as: Counter.self)
                    return nil
                }
                // The blocker's insert is in flight (and held by the lock): the sends below queue behind it.
                while !client.inserter.isInserting { await Task.yield() }
                for n in 0..<8 {
                    group.addTask {
                        do {
                            return .success(
                                try await client.enqueue(
                                    Counter.Command.add(n + 1), to: StreamID("target-\(n)"), as: Counter.self,
                                    messageID: shared))
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                // The eight sends wait together behind the blocked insert; no event marks it, so look until they do.
                while client.inserter.queuedCount < 8 { await Task.yield() }
                try await lock.release()
                var outcomes: [Swift.Result<ClusterClient.Ticket, any Error>] = []
                for try await outcome in group { if let outcome { outcomes.append(outcome) } }
                return outcomes
            }
            let taken = outcomes.filter { if case .success = $0 { true } else { false } }
            let conflicts = outcomes.filter {
                if case .failure(let error as ClusterError) = $0 { error.code == .conflictingMessageID } else { false }
            }
            // One stream holds the message id; the seven other callers were told their command was not sent.
            #expect(taken.count == 1, "\(taken.count) sends were told their command is in the inbox")
            #expect(conflicts.count == 7)
            let rows = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \"\(store.configuration.schema)_cluster\".inbox WHERE message_id = '\(shared)'",
                configuration: store.configuration)
            #expect(rows == ["1"])
        }
    }

    /// Before, such a name reached the inserter, and its multi-row insert failed with `storageFailure` for every
    /// command sent beside it.
    @Test("a raw command whose aggregate type is empty or holds a NUL is refused before its insert")
    func anAggregateTypeWithNULIsRefused() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            let payload = try JSONCommandCodec<Counter.Command>().encode(.add(1))
            for name in ["Coun\u{0}ter", ""] {
                await #expect {
                    _ = try await client.enqueue(
                        payload: payload, to: StreamID("bad"), aggregateType: name, messageID: MessageID())
                } throws: { error in
                    (error as? ClusterError)?.code == .malformedCommand
                }
            }
            #expect(try await client.enqueue(Counter.Command.add(2), to: "good", as: Counter.self).row > 0)
        }
    }

    @Test("a send refused because the client is not running leaves nothing in the inbox")
    func aSendBeforeRunSendsNothing() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            // Makes the cluster's tables (an enqueue needs no running client).
            _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("warm-up"), as: Counter.self)
            // The client's run() does not start within the send's time limit: the caller is told so.
            await #expect {
                _ = try await client.send(
                    Counter.Command.add(5), to: StreamID("early"), as: Counter.self, timeout: .milliseconds(200))
            } throws: { error in
                (error as? ClusterError)?.code == .notRunning
            }
            // A caller that sends again once the client runs (with a new message id, the default) must not deposit
            // twice: the refused send must not have queued the command.
            let pending = try await ClusterTestDatabase.query(
                "SELECT count(*)::text FROM \"\(store.configuration.schema)_cluster\".inbox WHERE stream_id = 'early'",
                configuration: store.configuration)
            #expect(pending == ["0"], "the refused send left \(pending) command(s) in the inbox, which a node will run")
        }
    }

    @Test("a send made before the client runs waits for it, then goes through")
    func aSendBeforeRunWaitsForIt() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            let node = try ClusterNode(nodeID: "n", store: store, aggregates: Counter.registry, configuration: configuration)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await node.run() }
                // A time limit well past the node's start and first claim on a loaded host (the suites start together):
                // what is tested is that the send waits for the client, not how fast the node runs.
                let send = Task {
                    try await client.send(
                        Counter.Command.add(3), to: StreamID("late"), as: Counter.self, timeout: .seconds(240))
                }
                // The send waits for the client; no event marks it, so look until it does.
                while client.running.waitingCount == 0 { await Task.yield() }
                group.addTask { try await client.run() }
                let result = try await send.value
                #expect(result.outcome == .accepted)
                node.stop()
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }

    @Test("a send after the client's run() ended fails at once with notRunning, sending nothing")
    func aSendAfterRunEndedFailsAtOnce() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                while client.running.phase != .running { await Task.yield() }
                group.cancelAll()
                try await group.waitForAll()
            }
            let start = ContinuousClock.now
            await #expect {
                _ = try await client.send(
                    Counter.Command.add(5), to: StreamID("late"), as: Counter.self, timeout: .seconds(40))
            } throws: { error in
                (error as? ClusterError)?.code == .notRunning
            }
            // Not at its 40 s time limit: the client had ended, and nothing would start it.
            #expect(ContinuousClock.now - start < .seconds(20))
        }
    }

    /// A client whose store had ended (or never started) returned from run() as if it had been stopped: nothing
    /// said why, and every later send failed with notRunning.
    @Test("run() of a client whose store has ended, or ends under it, throws instead of returning")
    func runOnAnEndedStoreThrows() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            store.close()
            await #expect(throws: EventStoreError.self) { try await client.run() }
        }
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await #expect {
                        try await client.run()
                    } throws: { error in
                        // Closed while the client ran, or (if the store was not ready yet) while it waited for it.
                        (error as? ClusterError)?.code == .notRunning || (error as? EventStoreError)?.code == .closed
                    }
                }
                while client.running.phase != .running { await Task.yield() }
                store.close()
                try await group.waitForAll()
            }
        }
    }

    /// A send waiting for its result when the client's store closed was told only "the cluster client stopped".
    @Test("a send waiting when the client's store closes is told that, and why the store closed")
    func aWaitingSendHearsWhyTheStoreClosed() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try? await client.run() }
                // No node runs: the send waits for its result.
                let ended = Atomic<Bool>(false)
                let sending = Task {
                    defer { ended.store(true, ordering: .releasing) }
                    return try await client.send(Counter.Command.add(1), to: "counter-1", as: Counter.self)
                }
                // Until the send waits (or, if something failed it first, has ended: the expectation below says so).
                while client.waiters.earliestDeadline == nil && !ended.load(ordering: .acquiring) {
                    await Task.yield()
                }
                store.close()
                let error = await #expect(throws: ClusterError.self) { _ = try await sending.value }
                #expect(error?.code == .notRunning)
                #expect(
                    error?.message.contains("its event store closed while the client ran: ") == true,
                    "\(String(describing: error))")
                try await group.waitForAll()
            }
        }
    }

    @Test("a send's time limit bounds the client's first preparation of the cluster's tables too")
    func aSendsTimeLimitBoundsThePreparation() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                // The send below waits for run() within its 1 s; a late start would fail it notRunning instead.
                while client.running.phase == .notStarted { await Task.yield() }
                // Another session prepares the cluster, holding its preparation lock.
                let holder = try await InboxLock.connect(store.configuration)
                _ = try await holder.query(
                    "SELECT pg_advisory_lock(1466460538, hashtext(\(store.configuration.schema + "_cluster")))",
                    logger: InboxLock.logger
                ).collect()
                // The store's request timeout in these tests is 30 s; the caller asked for 1 s. Before, the send
                // waited for the store's deadline and failed with its `unavailable`.
                let start = ContinuousClock.now
                let error = await #expect(throws: ClusterError.self) {
                    _ = try await client.send(
                        Counter.Command.add(1), to: StreamID("early"), as: Counter.self, timeout: .seconds(1))
                }
                #expect(error?.code == .timedOut)
                #expect(error?.message.contains("nothing was sent") == true, "\(String(describing: error))")
                #expect(ContinuousClock.now - start < .seconds(10), "the send outlived its 1 s time limit")
                try await holder.close()
                // The preparation goes on once the lock is free, and the next send goes through.
                let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("early"), as: Counter.self)
                #expect(ticket.result == nil)
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }

    @Test("a result wait ends at its own time limit even while a look-up waits on the database")
    func aResultWaitEndsAtItsTimeLimit() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                // The wait below waits for run() within its 1 s; a late start would fail it notRunning instead.
                while client.running.phase == .notStarted { await Task.yield() }
                let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("slow"), as: Counter.self)
                // The database stops answering look-ups of the inbox (a lock, as a long migration or vacuum full takes).
                let lock = try await InboxLock.lock(store.configuration, mode: "ACCESS EXCLUSIVE")
                // The store's request timeout in these tests is 30 s; the caller asked for 1 s.
                let start = ContinuousClock.now
                await #expect {
                    _ = try await client.result(of: ticket, timeout: .seconds(1))
                } throws: {
                    ($0 as? ClusterError)?.code == .timedOut
                }
                #expect(ContinuousClock.now - start < .seconds(10), "the wait outlived its 1 s time limit")
                try await lock.releaseEndingWaiters()
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }

    /// Before, the look-up of a message id ran before the time limit was checked, bounded only by the store's
    /// request timeout (30 s in these tests). Then, ended at the time limit, it said the command "was not found in
    /// the inbox", which was never read.
    @Test("a result wait for a message id ends at its own time limit even while its look-up waits on the database")
    func aResultWaitForAMessageIDEndsAtItsTimeLimit() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                while client.running.phase == .notStarted { await Task.yield() }
                let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("slow"), as: Counter.self)
                let lock = try await InboxLock.lock(store.configuration, mode: "ACCESS EXCLUSIVE")
                let start = ContinuousClock.now
                await #expect {
                    _ = try await client.result(of: ticket.messageID, timeout: .seconds(1))
                } throws: {
                    // The inbox was never read: the message says so, not that the command is missing from it.
                    let error = $0 as? ClusterError
                    return error?.code == .timedOut && error?.message.contains("look-up for command") == true
                }
                #expect(ContinuousClock.now - start < .seconds(10), "the wait outlived its 1 s time limit")
                try await lock.releaseEndingWaiters()
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }

    /// Before, a send cancelled while the client's first preparation waited for another session's lock stayed
    /// until its own time limit and failed `timedOut`.
    @Test("a send cancelled while the cluster's tables are prepared ends at once with CancellationError")
    func aSendCancelledDuringThePreparationEndsAtOnce() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                while client.running.phase == .notStarted { await Task.yield() }
                let holder = try await InboxLock.connect(store.configuration)
                _ = try await holder.query(
                    "SELECT pg_advisory_lock(1466460538, hashtext(\(store.configuration.schema + "_cluster")))",
                    logger: InboxLock.logger
                ).collect()
                // The send's own time limit must not end it before the cancellation does: on a loaded host the
                // preparation took more than 20 s to reach the lock, and the send failed `timedOut` first.
                let send = Task {
                    try await client.send(
                        Counter.Command.add(1), to: StreamID("cancelled"), as: Counter.self, timeout: .seconds(300))
                }
                // Waits until the preparation waits for this lock (not any other session's advisory lock).
                _ = try await PostgresLockWaiters.waiting(
                    for: .advisory(1466460538, hashOf: store.configuration.schema + "_cluster"), on: holder,
                    within: .seconds(240))
                let start = ContinuousClock.now
                send.cancel()
                await #expect(throws: CancellationError.self) { try await send.value }
                #expect(ContinuousClock.now - start < .seconds(10), "the cancelled send stayed")
                try await holder.close()
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }

    @Test("a result wait ends at its own time limit, not at the client's next poll")
    func aResultWaitEndsAtItsTimeLimitNotAtThePoll() async throws {
        try await ClusterTestDatabase.withStore { store in
            // A client that relies on notifications and polls rarely as a fallback.
            var configuration = ClusterTestDatabase.cluster()
            configuration.pollInterval = .seconds(30)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                // The wait below waits for run() within its 1 s; a late start would fail it notRunning instead.
                while client.running.phase == .notStarted { await Task.yield() }
                // No node runs: the command stays pending, and the wait must end at its 1 s limit.
                let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("unowned"), as: Counter.self)
                let start = ContinuousClock.now
                await #expect {
                    _ = try await client.result(of: ticket, timeout: .seconds(1))
                } throws: {
                    ($0 as? ClusterError)?.code == .timedOut
                }
                #expect(ContinuousClock.now - start < .seconds(10), "the wait lasted until the 30 s poll")
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }
}

extension ClusterClientEdgeTests {
    /// Runs a node and a client on `store`, sends one command and waits for its result, stops the node (so nothing
    /// else holds or reads the inbox), then runs `body` with the client, still running, and the command's ticket.
    func withARecordedCommand(
        _ store: PostgresEventStore, configuration: ClusterConfiguration = ClusterTestDatabase.cluster(),
        clientLogger: Logger? = nil, _ body: (ClusterClient, ClusterClient.Ticket) async throws -> Void
    ) async throws {
        let node = try ClusterNode(nodeID: "n", store: store, aggregates: Counter.registry, configuration: configuration)
        var clientConfiguration = configuration
        if let clientLogger { clientConfiguration.logger = clientLogger }
        let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: clientConfiguration)
        let nodeRun = Task { try await node.run() }
        defer { node.stop() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self)
            // The command runs and its result is recorded; no notification will name its row again.
            #expect(try await client.result(of: ticket, timeout: TestPatience.success).outcome == .accepted)
            node.stop()
            try await nodeRun.value
            try await body(client, ticket)
            group.cancelAll()
            try? await group.waitForAll()
        }
    }

    /// A client's time-out said a command "will run" also when no node ran at all (a schema name mistyped, say).
    @Test("a client tells whether any node holds a partition's lease, for the words of a time-out")
    func partitionsOwnedFollowsTheNodes() async throws {
        try await ClusterTestDatabase.withStore { store in
            let configuration = ClusterTestDatabase.cluster()
            let node = try ClusterNode(
                nodeID: "n", store: store, aggregates: Counter.registry, configuration: configuration)
            let client = try ClusterClient(store: store, aggregates: Counter.registry, configuration: configuration)
            let nodeRun = Task { try await node.run() }
            defer { node.stop() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                let ticket = try await client.enqueue(Counter.Command.add(1), to: StreamID("owned"), as: Counter.self)
                #expect(try await client.result(of: ticket, timeout: TestPatience.success).outcome == .accepted)
                #expect(try await client.partitionsOwned())
                // A graceful stop releases every partition at once.
                node.stop()
                try await nodeRun.value
                #expect(try await client.partitionsOwned() == false)
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }

    @Test("a result look-up that fails is tried again soon, not only at the client's next full poll")
    func aFailedLookUpIsTriedAgain() async throws {
        try await ClusterTestDatabase.withStore { store in
            let failedLookUp = LoggedMessage("looking up command results failed")
            var configuration = ClusterTestDatabase.cluster()
            configuration.pollInterval = .seconds(120)
            try await withARecordedCommand(store, configuration: configuration, clientLogger: failedLookUp.logger) {
                client, ticket in
                // A new wait looks the row up at once; with the inbox renamed, that look-up fails at once.
                try await InboxLock.renameClusterTable(in: store.configuration, from: "inbox", to: "inbox_hidden")
                // Below the 120 s poll interval, so that only the look-up tried again can answer in time.
                let waiting = Task { try await client.result(of: ticket, timeout: .seconds(60)) }
                await failedLookUp.logged()
                try await InboxLock.renameClusterTable(in: store.configuration, from: "inbox_hidden", to: "inbox")
                let restored = ContinuousClock.now
                // Before: the row was looked up again only at the next full look-up, 120 s on: the wait timed out.
                #expect(try await waiting.value.outcome == .accepted)
                #expect(ContinuousClock.now - restored < .seconds(10))
            }
        }
    }

    /// A look-up that failed with `unavailable` (its connection ended) ended the wait for a message id's result with
    /// that error, where the send's own wait and the client's polls try again until their time limit.
    @Test("a result wait for a message id whose look-up loses its connection looks again, until its time limit")
    func aLookUpThatLosesItsConnectionIsTriedAgain() async throws {
        try await ClusterTestDatabase.withStore { store in
            try await withARecordedCommand(store) { client, ticket in
                // The look-up waits behind the lock; its backend is then ended.
                let lock = try await InboxLock.lock(store.configuration, mode: "ACCESS EXCLUSIVE")
                let waiting = Task { try await client.result(of: ticket.messageID, timeout: TestPatience.success) }
                _ = try await PostgresLockWaiters.waiting(for: .table(lock.table), on: lock.connection)
                try await lock.releaseEndingWaiters()
                #expect(try await waiting.value.outcome == .accepted)
            }
        }
    }
}

extension ClusterClientEdgeTests {
    /// The insert is the acknowledgement that a command will run: it must count only once it has committed. A
    /// statement run alone reports its rows before its commit; a deferred constraint makes that commit fail.
    @Test("a send whose insert fails at its commit fails, and nothing of it is in the inbox")
    func aSendWhoseCommitFailsFails() async throws {
        try await ClusterTestDatabase.withStore { store in
            let client = try ClusterClient(
                store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                // A first send makes the cluster's tables.
                _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("counter-0"), as: Counter.self)
                let schema = "\"\(store.configuration.schema)_cluster\""
                try await InboxLock.execute(
                    """
                    CREATE FUNCTION \(schema).refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'refused at commit'; END $$
                    """, in: store.configuration)
                try await InboxLock.execute(
                    """
                    CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON \(schema).inbox
                        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_at_commit()
                    """, in: store.configuration)
                let messageID = MessageID()
                await #expect(throws: (any Error).self) {
                    _ = try await client.enqueue(
                        Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self, messageID: messageID)
                }
                try await InboxLock.execute("DROP TRIGGER refuse_at_commit ON \(schema).inbox", in: store.configuration)
                // Nothing was inserted: the same message id is new, and the client goes on sending.
                let ticket = try await client.enqueue(
                    Counter.Command.add(1), to: StreamID("counter-1"), as: Counter.self, messageID: messageID)
                #expect(ticket.messageID == messageID && ticket.result == nil)
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }
}

/// A logger whose handler lets a test wait until a given message is logged (at any level).
final class LoggedMessage: Sendable {
    let message: String
    private let seen: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(_ message: String) {
        self.message = message
        (seen, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var logger: Logger {
        Logger(label: "whizbang.cluster.tests") { _ in Handler(owner: self) }
    }

    /// Returns once the message has been logged (at once if it already was).
    func logged() async {
        for await _ in seen { return }
    }

    private struct Handler: LogHandler {
        let owner: LoggedMessage
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            if event.message.description == owner.message { owner.continuation.yield() }
        }
    }
}

/// A lock on a store's cluster inbox, held from a connection of its own until released.
struct InboxLock: Sendable {
    let connection: PostgresConnection
    let table: String
    static let logger = Logger(label: "whizbang.cluster.tests.lock")

    static func lock(_ configuration: PostgresEventStore.Configuration, mode: String = "SHARE") async throws -> InboxLock {
        let connection = try await connect(configuration)
        let table = "\"\(configuration.schema)_cluster\".inbox"
        do {
            try await connection.query("BEGIN", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN \(mode) MODE"), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        return InboxLock(connection: connection, table: table)
    }

    func release() async throws {
        try await connection.query("ROLLBACK", logger: Self.logger)
        try await connection.close()
    }

    /// Renames a table of the store's cluster schema from a connection of its own (a statement of its own, so the
    /// lock it takes is released at once): statements naming the old name fail at once until it is renamed back.
    static func renameClusterTable(in configuration: PostgresEventStore.Configuration, from old: String, to new: String)
        async throws
    {
        try await execute(
            "ALTER TABLE \"\(configuration.schema)_cluster\".\(old) RENAME TO \(new)", in: configuration)
    }

    /// Runs one statement on a connection of its own, waiting at most 20 s for a lock (a transaction still holding
    /// the table fails the statement rather than stalling the test).
    static func execute(_ sql: String, in configuration: PostgresEventStore.Configuration) async throws {
        let connection = try await connect(configuration)
        do {
            try await connection.query("SET lock_timeout = '20s'", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    static func connect(_ configuration: PostgresEventStore.Configuration) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            id: 3, logger: logger)
    }

    /// Ends the backends waiting for the lock (a request given up at its deadline leaves one), then releases it.
    func releaseEndingWaiters() async throws {
        try await connection.query(
            PostgresQuery(
                unsafeSQL: "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE NOT granted AND relation = '\(table)'::regclass"),
            logger: Self.logger)
        try await release()
    }
}
