import Foundation
import Logging
import PostgresNIO
import Testing
import Whizbang
import WhizbangPostgres

/// `Configuration.holdsWriterLock`: one store with the setting at a time on a schema.
@Suite(
    "PostgreSQL writer lock",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresWriterLockTests {
    private static func locked(_ configuration: PostgresEventStore.Configuration) -> PostgresEventStore.Configuration {
        var configuration = configuration
        configuration.holdsWriterLock = true
        return configuration
    }

    @Test("a second store with the writer lock fails to start; a store without it runs beside; once closed, it is free")
    func oneWriterAtATime() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: Self.locked(configuration))) {
            first async throws in
            _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)

            let second = try PostgresEventStore(configuration: Self.locked(configuration))
            let refused = await #expect(throws: EventStoreError.self) { try await second.run() }
            #expect(refused?.code == .invalidArgument)
            #expect(refused?.message.contains("writer lock") == true, "\(String(describing: refused))")
            // Its calls get the same answer, and it wrote nothing.
            let call = await #expect(throws: EventStoreError.self) { try await second.headPosition() }
            #expect(call?.code == .invalidArgument)

            // A store without the setting is not kept out.
            try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) {
                other async throws in
                _ = try await other.append(makeEvents(1), to: "account-1", expectedVersion: .exact(1))
            }
            _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .exact(2))
        }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: Self.locked(configuration))) {
            next async throws in
            #expect(try await next.headPosition() == 3)
        }
    }

    @Test("a read-only store cannot hold the writer lock")
    func readOnlyRefused() throws {
        var configuration = Self.locked(try PostgresTestServer.configuration())
        configuration.isReadOnly = true
        let error = #expect(throws: EventStoreError.self) { try PostgresEventStore(configuration: configuration) }
        #expect(error?.code == .invalidArgument)
    }

    @Test("a store whose listening connection was lost closes itself when another writer took the lock meanwhile")
    func lostLockClosesTheStore() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        var slow = Self.locked(configuration)
        // Long enough for the second store to start in the gap, on a busy machine too.
        slow.listenerReconnectDelay = .seconds(90)
        let first = try PostgresEventStore(configuration: slow)
        defer { first.close() }
        let running = Task { try await first.run() }
        _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)

        // The server ends the session that holds the writer lock: the first store's listening connection.
        let admin = try await PostgresTestServer.connect(configuration, id: 7)
        let logger = Logger(label: "whizbang.postgres.tests")
        do {
            let terminated = try await admin.query(
                """
                SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE l.locktype = 'advisory' AND l.classid = \(Int64(0x5768_697A + 3))::oid
                    AND l.objid = (hashtext(\(configuration.schema))::bigint & 4294967295)::oid AND l.objsubid = 2
                    AND l.mode = 'ExclusiveLock' AND l.granted AND d.datname = current_database()
                """, logger: logger)
            var count = 0
            for try await _ in terminated { count += 1 }
            #expect(count == 1)
            try await admin.close()
        } catch {
            try? await admin.close()
            throw error
        }

        // Another writer starts while the first store's listener waits to connect again, and writes.
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: Self.locked(configuration))) {
            second async throws in
            _ = try await second.append(makeEvents(1), to: "account-1", expectedVersion: .exact(1))
            // The first store finds the lock taken when it connects again, and stops: its run() says why.
            let stopped = await #expect(throws: EventStoreError.self) { try await running.value }
            #expect(stopped?.code == .closed)
            let error = await #expect(throws: EventStoreError.self) {
                _ = try await first.append(makeEvents(1), to: "account-1", expectedVersion: .exact(2))
            }
            #expect(error?.code == .closed)
            #expect(error?.message.contains("writer lock") == true, "\(String(describing: error))")
            _ = try await second.append(makeEvents(1), to: "account-1", expectedVersion: .exact(2))
        }
    }

    @Test("a store whose silent listening connection still holds the writer lock ends that session and goes on")
    func ownEarlierSessionIsEnded() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.createTables(configuration)
        var locked = Self.locked(configuration)
        // The listener's read of the head must answer within 10 s, every second; it connects again at once.
        locked.keepAliveInterval = .seconds(1)
        locked.requestTimeout = .seconds(10)
        locked.listenerReconnectDelay = .milliseconds(100)
        let (messages, message) = AsyncStream.makeStream(of: String.self)
        locked.logger = Logger(label: "whizbang.postgres.tests") { _ in StreamingLogHandler(sink: message) }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: locked)) { store async throws in
            _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
            // Another session locks the events: the listener's read of the head waits, and after 10 s the listener
            // gives its connection up as silent. The server's backend of that connection goes on waiting for the
            // table, and so still holds the writer lock while the listener connects again.
            let admin = try await PostgresTestServer.connect(configuration, id: 8)
            let logger = Logger(label: "whizbang.postgres.tests")
            do {
                try await admin.query("BEGIN", logger: logger)
                try await admin.query(
                    PostgresQuery(unsafeSQL: "LOCK TABLE \"\(configuration.schema)\".events IN ACCESS EXCLUSIVE MODE"),
                    logger: logger)
                // Before, the store took that session for another writer's and closed itself.
                var outcome: String?
                for await line in messages where line.contains("writer lock") {
                    outcome = line
                    break
                }
                #expect(outcome?.contains("earlier session") == true, "\(outcome ?? "the log ended")")
                try await admin.query("ROLLBACK", logger: logger)
                try await admin.close()
            } catch {
                try? await admin.close()
                throw error
            }
            // The store goes on, and holds the lock: another writer is refused.
            _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .exact(1))
            let second = try PostgresEventStore(configuration: Self.locked(configuration))
            let refused = await #expect(throws: EventStoreError.self) { try await second.run() }
            #expect(refused?.code == .invalidArgument)
        }
    }
}

/// A log handler that sends each message to `sink`, for a test that waits for one.
private struct StreamingLogHandler: LogHandler {
    let sink: AsyncStream<String>.Continuation
    var logLevel: Logger.Level = .debug
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        sink.yield("\(event.message)")
    }
}
