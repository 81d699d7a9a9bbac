import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing
import WhizbangPostgres

/// Starting, migrating, closing, and what the store writes to its logs.
@Suite(
    "PostgresEventStore lifecycle",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    // One store at a time in this suite: 65 checks starting together would open hundreds of connections at once.
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresLifecycleTests {
    @Test func reopeningKeepsTheEvents() async throws {
        let configuration = try PostgresTestServer.configuration()
        let store = try PostgresEventStore(configuration: configuration)
        let first = try await PostgresTestServer.withRunningStore(store) { store in
            try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
        }
        let reopened = try PostgresEventStore(configuration: configuration)
        try await PostgresTestServer.withRunningStore(reopened) { store in
            #expect(try await store.headPosition() == 3)
            #expect(try await store.streamVersion(of: "s") == 3)
            let retried = try await store.append(
                (try await store.readStream("s", from: 1, direction: .forwards, limit: 10)).map {
                    EventData(eventID: $0.eventID, eventType: $0.eventType, data: $0.data, metadata: $0.metadata)
                }, to: "s", expectedVersion: .noStream)
            #expect(retried == first)
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test func withRunningStoreRunsTheStoreForTheBodyAndClosesItAfter() async throws {
        struct Stop: Error {}
        let configuration = try PostgresTestServer.configuration()
        let kept = try await PostgresEventStore.withRunningStore(configuration: configuration) { store in
            _ = try await store.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            return store
        }
        // The store did not outlive the call.
        await expectError(.closed) { _ = try await kept.headPosition() }
        // The body's error is the one reported, and the store is closed all the same.
        var thrown: PostgresEventStore?
        do {
            try await PostgresEventStore.withRunningStore(configuration: configuration) { store in
                #expect(try await store.headPosition() == 2)
                thrown = store
                throw Stop()
            }
            Issue.record("the body's error was not rethrown")
        } catch is Stop {}
        if let thrown { await expectError(.closed) { _ = try await thrown.headPosition() } }
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test func aNewerSchemaIsRefused() async throws {
        let configuration = try PostgresTestServer.configuration()
        for sql in [
            "CREATE SCHEMA \(configuration.schema)",
            "CREATE TABLE \(configuration.schema).schema_version (version integer PRIMARY KEY, applied_at timestamptz)",
            "INSERT INTO \(configuration.schema).schema_version VALUES (1, now()), (99, now())",
        ] {
            try await PostgresTestServer.execute(sql, configuration: configuration)
        }
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // A call made before run() waits for it, then fails with run()'s error.
            group.addTask {
                let error = await expectError(.incompatibleSchema) {
                    _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any)
                }
                #expect(error?.message.contains("schema version 99") == true)
            }
            group.addTask {
                let error = await expectError(.incompatibleSchema) { try await store.run() }
                // The newest version this code writes, whatever it is, and not the schema's.
                #expect(error?.message.contains("understands up to ") == true, "\(String(describing: error))")
                #expect(error?.message.contains("understands up to 99") == false, "\(String(describing: error))")
            }
            try await group.waitForAll()
        }
        await expectError(.incompatibleSchema) { _ = try await store.headPosition() }
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test func aSchemaOfOtherTablesIsRefused() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.execute("CREATE SCHEMA \(configuration.schema)", configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE TABLE \(configuration.schema).orders (id integer)", configuration: configuration)
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        await expectError(.incompatibleSchema) { try await store.run() }
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// The store's size counts its own tables: a table of another application in the same schema counted too.
    @Test func storageBytesCountsOnlyTheStoresTables() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            _ = try await appendRetrying(makeEvents(2), to: "s", expectedVersion: .any, store: store)
            let before = try await store.storageBytes()
            #expect(before > 0)
            try await PostgresTestServer.execute(
                "CREATE TABLE \(configuration.schema).invoices AS SELECT repeat('x', 1000) AS body "
                    + "FROM generate_series(1, 2000)",
                configuration: configuration)
            #expect(try await store.storageBytes() == before)
        }
    }

    /// A table named `schema_version` is not proof of a store: another application's migration table, with its own
    /// tables beside it, is refused, and neither its rows nor its schema are changed.
    @Test func anotherApplicationsSchemaVersionTableIsLeftAsItWas() async throws {
        let configuration = try PostgresTestServer.configuration()
        let schema = configuration.schema
        for sql in [
            "CREATE SCHEMA \(schema)",
            "CREATE TABLE \(schema).schema_version (version integer PRIMARY KEY, applied_at timestamptz DEFAULT now())",
            "INSERT INTO \(schema).schema_version (version) VALUES (1), (2), (3)",
            "CREATE TABLE \(schema).invoices (id integer)",
        ] {
            try await PostgresTestServer.execute(sql, configuration: configuration)
        }
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let error = await expectError(.incompatibleSchema) { try await store.run() }
        #expect(error?.message.contains("not a Whizbang store") == true, "\(String(describing: error))")
        // Nor do the administration calls take it for a store: the drop leaves its table alone.
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(!found.holdsStore && found.otherObjects == ["invoices", "schema_version"], "\(found)")
        #expect(try await PostgresEventStore.installedSchemaVersion(configuration: configuration) == nil)
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        let connection = try await PostgresTestServer.connect(configuration, id: 3)
        do {
            var versions: [Int32] = []
            for try await row in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT version FROM \(schema).schema_version ORDER BY version"),
                logger: Logger(label: "whizbang.postgres.tests"))
            {
                versions.append(try row.decode(Int32.self))
            }
            #expect(versions == [1, 2, 3])
            var objects: [String] = []
            for try await row in try await connection.query(
                """
                SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = \(schema) AND c.relkind = 'r'
                UNION ALL SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = \(schema) ORDER BY 1
                """,
                logger: Logger(label: "whizbang.postgres.tests"))
            {
                objects.append(try row.decode(String.self))
            }
            #expect(objects == ["invoices", "schema_version"])
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    /// A role that may not create schemas in the database, given a schema of its own, runs a store in it: the schema
    /// exists, so the store does not ask to create it.
    @Test func aRoleWithASchemaOfItsOwnButNoRightToCreateSchemasRunsAStore() async throws {
        let administrator = try PostgresTestServer.configuration()
        let role = try await PostgresTestRole.create(administrator: administrator, mayCreateSchemas: false)
        let outcome: Result<UInt64, any Error>
        do {
            try await role.execute("CREATE SCHEMA \(administrator.schema) AUTHORIZATION \(role.name)")
            outcome = .success(
                try await PostgresTestServer.withStore(configuration: role.configuration) { store in
                    _ = try await appendRetrying(makeEvents(2), to: "s", expectedVersion: .any, store: store)
                    return try await retryingWhileUnavailable { try await store.headPosition() }
                })
        } catch {
            outcome = .failure(error)
        }
        try await role.drop()
        #expect(try outcome.get() == 2)
    }

    @Test func closingBeforeRunFailsWaitingCalls() async throws {
        let store = try PostgresEventStore(configuration: try PostgresTestServer.configuration())
        try await withThrowingTaskGroup(of: Void.self) { group in
            let (started, starter) = AsyncStream.makeStream(of: Void.self)
            group.addTask {
                starter.yield()
                await expectError(.closed) { _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any) }
            }
            group.addTask {
                starter.yield()
                await expectError(.closed) { try await store.waitForEvents(after: 0) }
            }
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()
            _ = await iterator.next()
            store.close()
            try await group.waitForAll()
        }
        // run() of a closed store returns at once, without connecting.
        try await store.run()
    }

    @Test func closingFailsAWaiterAndEndsRun() async throws {
        try await PostgresTestServer.withStore { store in
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            // The waiter may register before or after close; either way it fails with `closed`.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await expectError(.closed) { try await store.waitForEvents(after: 1) } }
                store.close()
                try await group.waitForAll()
            }
            await expectError(.closed) { _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any) }
            await expectError(.closed) { _ = try await store.readAll(after: 0, limit: 10) }
        }
    }

    /// Closing while the listener is still connecting or waiting for `LISTEN` to take effect must end `run()` too
    /// (a listener stuck there once kept the pool, and so `run()`, from finishing).
    @Test func closingRightAfterStartingEndsRun() async throws {
        let configuration = try PostgresTestServer.configuration()
        for round in 0..<20 {
            let store = try PostgresEventStore(configuration: configuration)
            try await PostgresTestServer.withRunningStore(store) { store in
                _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .exact(UInt64(round)))
            }
        }
        try await PostgresTestServer.dropSchema(configuration)
    }

    @Test func aWrongPasswordFailsRunWithoutShowingIt() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.password = "wrong-password-xyz"
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let error = await expectError(.storageFailure) { try await store.run() }
        #expect(error?.message.contains("28P01") == true, "\(String(describing: error))")
        #expect(error?.message.contains("wrong-password-xyz") == false)
    }

    @Test func logsNeverHoldThePassword() async throws {
        let records = LogRecords()
        var configuration = try PostgresTestServer.configuration()
        let password = try #require(configuration.password, "the test server's URL has a password")
        configuration.logger = Logger(label: "whizbang.postgres.test") { _ in records.handler() }
        configuration.logger.logLevel = .trace
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            _ = try await store.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            _ = try await store.readAll(after: 0, limit: 10)
        }
        let lines = records.lines
        #expect(!lines.isEmpty, "the store logged nothing at trace level")
        for line in lines where line.contains(password) {
            Issue.record("a log line holds the password: \(line)")
        }
    }
}

/// Every log message and its metadata, as lines.
final class LogRecords: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { storage.withLock { $0 } }

    func handler() -> some LogHandler { Handler(records: self) }

    private struct Handler: LogHandler {
        let records: LogRecords
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            records.storage.withLock { $0.append("\(event.level) \(event.message) \(all) \(event.source)") }
        }
    }
}
