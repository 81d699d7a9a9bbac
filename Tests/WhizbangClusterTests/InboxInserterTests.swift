import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

@testable import WhizbangCluster

/// The client's group insert: a caller returns once the insert holding its command has committed, not after the
/// inserts queued behind it; a cancelled caller ends only its own wait; a send's time limit bounds its insert.
///
/// Before, the first caller to find no insert in flight ran the inserts in its own task until the queue was empty:
/// under a steady load it inserted for others without end, and its cancellation failed everyone queued behind it.
@Suite("Cluster inbox inserts", .enabled(if: ClusterTestDatabase.isEnabled), .timeLimit(.minutes(5)))
struct InboxInserterTests {
    /// A client whose cluster tables exist, with a trigger that holds every insert of stream `held` until the
    /// returned connection lets go of its advisory lock.
    static func clientWithHeldStream(_ store: PostgresEventStore) async throws -> (ClusterClient, PostgresConnection) {
        let client = try ClusterClient(
            store: store, aggregates: Counter.registry, configuration: ClusterTestDatabase.cluster())
        _ = try await client.enqueue(Counter.Command.add(1), to: StreamID("warm-up"), as: Counter.self)
        let schema = "\"\(store.configuration.schema)_cluster\""
        _ = try await ClusterTestDatabase.query(
            """
            CREATE FUNCTION \(schema).hold_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$
            """, configuration: store.configuration)
        _ = try await ClusterTestDatabase.query(
            """
            CREATE TRIGGER hold_insert BEFORE INSERT ON \(schema).inbox FOR EACH ROW
                WHEN (NEW.stream_id = 'held') EXECUTE FUNCTION \(schema).hold_insert()
            """, configuration: store.configuration)
        let holder = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: store.configuration.host, port: store.configuration.port,
                username: store.configuration.username, password: store.configuration.password,
                database: store.configuration.database, tls: .disable),
            id: 7, logger: Logger(label: "whizbang.cluster.tests.holder"))
        try await holder.query("SELECT pg_advisory_lock(4242)", logger: Logger(label: "whizbang.cluster.tests.holder"))
        return (client, holder)
    }

    static func release(_ holder: PostgresConnection) async throws {
        try await holder.query("SELECT pg_advisory_unlock(4242)", logger: Logger(label: "whizbang.cluster.tests.holder"))
        try await holder.close()
    }

    /// Waits until `client`'s first insert is in flight and `queued` requests wait behind it.
    static func waitFor(_ client: ClusterClient, queued: Int) async {
        while !client.inserter.isInserting { await Task.yield() }
        while client.inserter.queuedCount < queued { await Task.yield() }
    }

    @Test("a caller returns once the insert holding its command commits, while the next insert is still held")
    func aCallerDoesNotInsertForOthers() async throws {
        try await ClusterTestDatabase.withStore { store in
            let (client, holder) = try await Self.clientWithHeldStream(store)
            // The table lock holds the first insert in the server, so the second request queues behind it.
            let lock = try await InboxLock.lock(store.configuration)
            let first = Task { try await client.enqueue(Counter.Command.add(1), to: StreamID("first"), as: Counter.self) }
            while !client.inserter.isInserting { await Task.yield() }
            let held = Task { try await client.enqueue(Counter.Command.add(1), to: StreamID("held"), as: Counter.self) }
            await Self.waitFor(client, queued: 1)
            try await lock.release()
            // The first caller's command committed alone; the second insert waits for the advisory lock. Before the
            // change the first caller ran that second insert itself, and did not return while it was held.
            let ticket = try await first.value
            #expect(ticket.row > 0)
            #expect(
                try await ClusterTestDatabase.query(
                    "SELECT count(*)::text FROM \"\(store.configuration.schema)_cluster\".inbox WHERE stream_id = 'held'",
                    configuration: store.configuration) == ["0"])
            try await Self.release(holder)
            #expect(try await held.value.row > ticket.row)
        }
    }

    @Test("a cancelled caller ends its own wait, not the inserts of those queued behind it")
    func aCancelledCallerFailsNobodyElse() async throws {
        try await ClusterTestDatabase.withStore { store in
            let (client, holder) = try await Self.clientWithHeldStream(store)
            try await Self.release(holder)
            let lock = try await InboxLock.lock(store.configuration)
            let cancelled = Task {
                try await client.enqueue(Counter.Command.add(1), to: StreamID("cancelled"), as: Counter.self)
            }
            while !client.inserter.isInserting { await Task.yield() }
            let queued = Task { try await client.enqueue(Counter.Command.add(1), to: StreamID("queued"), as: Counter.self) }
            await Self.waitFor(client, queued: 1)
            cancelled.cancel()
            await #expect(throws: CancellationError.self) { _ = try await cancelled.value }
            try await lock.release()
            // Before the change the cancelled caller ran the queued insert in its cancelled task, and the queued
            // caller got its CancellationError.
            #expect(try await queued.value.row > 0)
        }
    }

    @Test("a send's time limit bounds its insert: timedOut, not the store's longer deadline")
    func aSendsTimeLimitBoundsItsInsert() async throws {
        try await ClusterTestDatabase.withStore { store in
            let (client, holder) = try await Self.clientWithHeldStream(store)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await client.run() }
                // A send waits for run() within its own time limit: on a loaded machine the task above can start
                // later than 300 ms, and the send would then fail notRunning, not for the reason checked here.
                while client.running.phase == .notStarted { await Task.yield() }
                // The insert waits for the advisory lock for as long as the test holds it; the send gives up at its
                // time limit. Before the change it waited for the store's request deadline and failed `unavailable`.
                await #expect {
                    _ = try await client.send(
                        Counter.Command.add(1), to: StreamID("held"), as: Counter.self, timeout: .milliseconds(300))
                } throws: { error in
                    (error as? ClusterError)?.code == .timedOut
                }
                try await Self.release(holder)
                group.cancelAll()
            }
        }
    }
}
