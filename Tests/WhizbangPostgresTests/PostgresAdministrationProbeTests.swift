import Foundation
import Logging
import PostgresNIO
import Testing
import WhizbangPostgres

/// The store's administration calls tried as a hostile operator would: a schema that holds an object of the user's
/// beside the store, and a table that another session holds (a backup in progress).
@Suite(
    "PostgresEventStore administration probes",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(1))
)
struct PostgresAdministrationProbeTests {
    /// A schema holding a store that ran once and is closed.
    static func closedStore(requestTimeout: Duration = .seconds(10)) async throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = requestTimeout
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store in
            _ = try await store.append(makeEvents(2), to: "account-1", expectedVersion: .noStream)
        }
        return configuration
    }

    static func count(_ sql: String, _ configuration: PostgresEventStore.Configuration) async throws -> Int64 {
        let connection = try await PostgresTestServer.connect(configuration, id: 5)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "probe")).collect()
        return try rows.first?.decode(Int64.self) ?? -1
    }

    @Test("dropStoreTables refuses a schema where the user added an index to a store table, and drops nothing")
    func dropStoreTablesKeepsAUsersIndex() async throws {
        let configuration = try await Self.closedStore()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        let schema = "\"\(configuration.schema)\""
        // An operator's own index, to query events by type and time: the user's object, not the store's.
        try await PostgresTestServer.execute(
            "CREATE INDEX users_events_by_type ON \(schema).events (event_type, recorded_at)",
            configuration: configuration)

        await expectError(.invalidArgument) {
            try await PostgresEventStore.dropStoreTables(configuration: configuration)
        }
        let index = try await Self.count(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = '\(configuration.schema)' "
                + "AND indexname = 'users_events_by_type'", configuration)
        #expect(index == 1, "the user's index was dropped with the store's tables")
        let events = try await Self.count(
            "SELECT count(*) FROM pg_tables WHERE schemaname = '\(configuration.schema)' AND tablename = 'events'",
            configuration)
        #expect(events == 1, "the store's tables were dropped")
    }

    @Test("dropStoreTables behind a table another session reads fails within the request timeout")
    func dropStoreTablesIsBoundedBehindALock() async throws {
        let configuration = try await Self.closedStore(requestTimeout: .seconds(2))
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        // A backup in progress: pg_dump holds ACCESS SHARE on every table it dumps, for the whole dump.
        let backup = try await PostgresTestServer.connect(configuration, id: 6)
        let logger = Logger(label: "probe")
        try await backup.query("BEGIN", logger: logger)
        try await backup.query(
            PostgresQuery(unsafeSQL: "LOCK TABLE \"\(configuration.schema)\".events IN ACCESS SHARE MODE"), logger: logger)

        let outcome = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await PostgresEventStore.dropStoreTables(configuration: configuration)
                    return "returned"
                } catch {
                    return "threw \(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(15))
                return nil
            }
            let first = await group.next() ?? nil
            // Ends the drop's wait (the backup ends), whichever won.
            try? await backup.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT pg_cancel_backend(pid) FROM pg_locks
                        WHERE NOT granted AND relation = '"\(configuration.schema)".events'::regclass
                        """), logger: logger)
            try? await backup.query("ROLLBACK", logger: logger)
            group.cancelAll()
            return first
        }
        try? await backup.close()
        let result = try #require(outcome, "dropStoreTables (request timeout 2 s) had not returned after 15 s")
        #expect(result.hasPrefix("threw") && result.contains("unavailable"), "\(result)")
    }

    @Test("a request timeout meant as 'no limit' (Int64.max seconds) is refused with an error or works; it does not crash")
    func aHugeRequestTimeoutDoesNotCrashTheProcess() async throws {
        try #require(PostgresTestServer.url != nil)
        await #expect(processExitsWith: .success) {
            var configuration = try PostgresTestServer.configuration()
            configuration.requestTimeout = .seconds(Int64.max)
            do {
                let store = try PostgresEventStore(configuration: configuration)
                try await PostgresTestServer.withRunningStore(store) { store in
                    _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
                }
                try? await PostgresTestServer.dropSchema(configuration)
            } catch let error as EventStoreError where error.code == .invalidArgument {
                // Refused with a typed error: as good as working.
            }
        }
    }
}
