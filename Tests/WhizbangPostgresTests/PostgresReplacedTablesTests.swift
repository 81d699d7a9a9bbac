import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import Testing
import Whizbang
import WhizbangPostgres

/// A store whose tables were dropped and made again while its listening connection, and with it the lock that keeps
/// drops out, was lost: it writes nothing into the new tables, and closes itself.
@Suite(
    "PostgreSQL tables replaced under a running store",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresReplacedTablesTests {
    private static let logger = Logger(label: "whizbang.postgres.tests")

    /// The condition on `pg_locks` of the use lock of `schema`, which each running store holds in shared mode.
    private static func useLock(_ schema: String) -> String {
        """
        l.locktype = 'advisory' AND l.classid = \(0x5768_697A + 2)::oid
            AND l.objid = (hashtext('\(schema)')::bigint & 4294967295)::oid AND l.objsubid = 2
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """
    }

    /// Ends the session of the store's listening connection, the one that holds the schema's use lock.
    private static func endListenerSession(_ configuration: PostgresEventStore.Configuration) async throws {
        let ended = try await PostgresTestServer.strings(
            "SELECT pg_terminate_backend(l.pid)::text FROM pg_locks l WHERE \(useLock(configuration.schema)) "
                + "AND l.mode = 'ShareLock' AND l.granted",
            configuration: configuration)
        #expect(ended == ["true"])
    }

    /// Runs `body` with a store on `configuration`'s schema that appended one event and whose listening connection
    /// then ended, and stays away for the whole test: only the fence stands between the store and the tables. By then
    /// no store holds the schema's use lock, and the store's tables have been dropped.
    private static func withStoreAway(
        _ configuration: PostgresEventStore.Configuration, _ body: (PostgresEventStore) async throws -> Void
    ) async throws {
        var away = configuration
        away.listenerReconnectDelay = .seconds(90)
        let store = try PostgresEventStore(configuration: away)
        defer { store.close() }
        let running = Task { try await store.run() }
        defer { running.cancel() }
        _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
        try await endListenerSession(configuration)
        // The drop goes ahead (it tries for a while, as the session ends).
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        try await body(store)
    }

    @Test("appends of a store whose tables were dropped and made again while its listener was away are refused")
    func appendsRefused() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await Self.withStoreAway(configuration) { first in
            // Another store makes the tables again and writes one event.
            try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) {
                second async throws in
                _ = try await second.append(makeEvents(1), to: "other-1", expectedVersion: .noStream)
            }

            // Before, both appended into the new tables (positions 2 and 3 of a log the first store never read).
            let error = await expectError(.closed) {
                _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .any)
            }
            #expect(error?.message.contains("no longer the ones it opened") == true, "\(String(describing: error))")
            await expectError(.closed) {
                _ = try await first.withTransaction { transaction in
                    try await transaction.append([
                        PostgresStoreAppend(makeEvents(1), to: "account-2", expectedVersion: .any)
                    ])
                }
            }
            let streams = try await PostgresTestServer.strings(
                "SELECT s.stream_id FROM \"\(configuration.schema)\".events e "
                    + "JOIN \"\(configuration.schema)\".streams s USING (stream_key) ORDER BY e.position",
                configuration: configuration)
            #expect(streams == ["other-1"])
        }
    }

    @Test("an append that waited for the append lock while the tables were replaced under that lock is refused")
    func appendWaitingWhileReplacedIsRefused() async throws {
        var configuration = try PostgresTestServer.configuration()
        // Two connections, both of which have looked the tables up before the wait.
        configuration.maximumConnections = 2
        defer { Task { [configuration] in try? await PostgresTestServer.dropSchema(configuration) } }
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let running = Task { try await store.run() }
        defer { running.cancel() }
        do {
            // The store's connections have read the tables' names.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        _ = try await store.append(
                            makeEvents(1), to: StreamID("warm-\(index)"), expectedVersion: .noStream)
                    }
                }
                try await group.waitForAll()
            }
            let schema = configuration.schema
            let admin = try await PostgresTestServer.connect(configuration, id: 11)
            do {
                // Another session takes the append lock, as a drop or a restore does, and makes `events` another
                // table under it.
                try await admin.query("BEGIN", logger: Self.logger)
                try await admin.query(
                    "SELECT pg_advisory_xact_lock(\(Int32(0x5768_697A)), hashtext(\(schema)))", logger: Self.logger)
                // As a replacing restore does: the table dropped, another made under its name.
                for statement in [
                    "CREATE TABLE \"\(schema)\".events_after (LIKE \"\(schema)\".events INCLUDING ALL)",
                    "DROP TABLE \"\(schema)\".events", "ALTER TABLE \"\(schema)\".events_after RENAME TO events",
                ] {
                    try await admin.query(PostgresQuery(unsafeSQL: statement), logger: Self.logger)
                }
                // The store's next append waits for the lock; the other session commits meanwhile.
                let appending = Task {
                    try await store.append(makeEvents(1), to: "account-2", expectedVersion: .noStream)
                }
                let watcher = try await PostgresTestServer.connect(configuration, id: 12)
                do {
                    _ = try await PostgresLockWaiters.waiting(for: .advisory(0x5768_697A, hashOf: schema), on: watcher)
                    try await watcher.close()
                } catch {
                    try? await watcher.close()
                    throw error
                }
                try await admin.query("COMMIT", logger: Self.logger)
                try await admin.close()
                // Before, the append went into the new table: the function compared the table's id as its session
                // had last read the catalog, before the wait.
                let error = await #expect(throws: EventStoreError.self) { _ = try await appending.value }
                #expect(error?.code == .closed, "\(String(describing: error))")
            } catch {
                try? await admin.close()
                throw error
            }
            #expect(
                try await PostgresTestServer.strings(
                    "SELECT count(*)::text FROM \"\(schema)\".events", configuration: configuration) == ["0"])
        }
    }

    @Test("checkpoints and snapshots of a store whose tables were replaced while its listener was away are refused")
    func checkpointsAndSnapshotsRefused() async throws {
        for write in ["checkpoint", "snapshot"] {
            let configuration = try PostgresTestServer.configuration()
            defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
            try await Self.withStoreAway(configuration) { first in
                try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) {
                    second async throws in
                    _ = try await second.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
                }
                // Before, both went into the new tables: a consumer's position in a log it never read, and a state
                // of the old log's account-1 that the new log's account-1 would be loaded from.
                let error = await expectError(.closed) {
                    if write == "checkpoint" {
                        try await first.saveCheckpoint(1, for: "projection")
                    } else {
                        try await first.saveSnapshot(
                            Snapshot(
                                streamID: "account-1", streamVersion: 1, stateType: "Account", data: Data("{}".utf8)))
                    }
                }
                #expect(error?.message.contains("no longer the ones it opened") == true, "\(String(describing: error))")
                await expectError(.closed) { _ = try await first.headPosition() }
                let schema = "\"\(configuration.schema)\""
                #expect(try await PostgresTestServer.strings(
                    "SELECT count(*)::text FROM \(schema).checkpoints", configuration: configuration) == ["0"])
                #expect(try await PostgresTestServer.strings(
                    "SELECT count(*)::text FROM \(schema).snapshots", configuration: configuration) == ["0"])
            }
        }
    }

    @Test("a fenced call through a caller's function appends into the store's own tables only")
    func fencedCallRefused() async throws {
        let configuration = try PostgresTestServer.configuration()
        let app = "\"\(configuration.schema)_app\""
        defer {
            Task {
                try? await PostgresTestServer.execute(
                    "DROP SCHEMA IF EXISTS \(app) CASCADE", configuration: configuration)
                try? await PostgresTestServer.dropSchema(configuration)
            }
        }
        /// A call of `app.noted(p_note, ...)`, which writes its note and appends through the store's fenced function.
        func noted(_ note: String) -> PostgresAppendCall {
            var arguments = PostgresBindings()
            arguments.append(note)
            return PostgresAppendCall(function: "\(app).noted", arguments: arguments, fenced: true)
        }
        try await Self.withStoreAway(configuration) { first in
            for statement in [
                "CREATE SCHEMA \(app)", "CREATE TABLE \(app).notes (note text NOT NULL)",
                """
                CREATE FUNCTION \(app).noted(p_note text, \(PostgresAppendCall.fencedAppendParameters))
                RETURNS \(PostgresAppendCall.returnType) LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO \(app).notes VALUES (p_note);
                    RETURN QUERY SELECT * FROM
                        \(first.fencedAppendFunction)(\(PostgresAppendCall.fencedAppendArguments));
                END $$
                """,
            ] {
                try await PostgresTestServer.execute(statement, configuration: configuration)
            }
            // Another store makes the tables again; through the same function, its own call appends.
            try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) {
                second async throws in
                let outcome = try await second.append(
                    [PostgresStoreAppend(makeEvents(1), to: "other-1", expectedVersion: .noStream)],
                    through: noted("second"))
                guard case .appended(let results) = outcome else {
                    Issue.record("the call was refused: \(outcome)")
                    return
                }
                #expect(try results[0].get().positions == 1..<2)
            }

            // The first store's call is refused, writes nothing (its note neither), and closes the store.
            let error = await expectError(.closed) {
                _ = try await first.append(
                    [PostgresStoreAppend(makeEvents(1), to: "account-1", expectedVersion: .any)],
                    through: noted("first"))
            }
            #expect(error?.message.contains("no longer the ones it opened") == true, "\(String(describing: error))")
            await expectError(.closed) { _ = try await first.headPosition() }
            let streams = try await PostgresTestServer.strings(
                "SELECT s.stream_id FROM \"\(configuration.schema)\".events e "
                    + "JOIN \"\(configuration.schema)\".streams s USING (stream_key) ORDER BY e.position",
                configuration: configuration)
            #expect(streams == ["other-1"])
            #expect(try await PostgresTestServer.strings("SELECT note FROM \(app).notes", configuration: configuration)
                == ["second"])
        }
    }

    @Test("an append of a store whose tables were dropped while its listener was away writes nothing")
    func appendAfterADropWritesNothing() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await Self.withStoreAway(configuration) { first in
            // The store's function is gone with its tables: the server refuses the call, and nothing is made again.
            await expectError(.storageFailure) {
                _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .any)
            }
        }
        #expect(try await PostgresEventStore.inspectSchema(configuration: configuration).holdsStore == false)
    }

    @Test("a store whose listener finds other tables when it connects again closes itself, and says why")
    func listenerClosesTheStore() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        var quick = configuration
        quick.listenerReconnectDelay = .milliseconds(50)
        let first = try PostgresEventStore(configuration: quick)
        defer { first.close() }
        let running = Task { try await first.run() }
        _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)

        // Another session asks for the use lock exclusively; it waits behind the store's listener, and is granted
        // when that session ends, before the listener can take the lock again.
        let admin = try await PostgresTestServer.connect(configuration, id: 9)
        do {
            try await admin.query("BEGIN", logger: Self.logger)
            let schema = configuration.schema
            let waiting = Task {
                try await admin.query(
                    "SELECT pg_advisory_xact_lock(\(Int32(0x5768_697A + 2)), hashtext(\(schema)))", logger: Self.logger)
            }
            let watcher = try await PostgresTestServer.connect(configuration, id: 10)
            do {
                _ = try await PostgresLockWaiters.waiting(
                    for: .advisory(0x5768_697A + 2, hashOf: schema), on: watcher)
                try await watcher.close()
            } catch {
                try? await watcher.close()
                throw error
            }
            try await Self.endListenerSession(configuration)
            _ = try await waiting.value
            // The tables' names now stand for other tables.
            try await admin.query(
                PostgresQuery(unsafeSQL: "ALTER TABLE \"\(schema)\".events RENAME TO events_before"),
                logger: Self.logger)
            try await admin.query(
                PostgresQuery(
                    unsafeSQL: "CREATE TABLE \"\(schema)\".events (LIKE \"\(schema)\".events_before INCLUDING ALL)"),
                logger: Self.logger)
            try await admin.query("COMMIT", logger: Self.logger)
            try await admin.close()
        } catch {
            try? await admin.close()
            throw error
        }

        let stopped = await #expect(throws: EventStoreError.self) { try await running.value }
        #expect(stopped?.code == .closed)
        #expect(stopped?.message.contains("no longer the ones it opened") == true, "\(String(describing: stopped))")
        await expectError(.closed) { _ = try await first.headPosition() }
    }
}
