import Foundation
import Logging
import PostgresNIO
import Testing

@testable import WhizbangPostgres

/// Closing a store whose start waits on the database: `run()` documents that ``PostgresEventStore/close()`` makes it
/// return.
@Suite(
    "PostgresEventStore startup probes",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(1))
)
struct PostgresStartupProbeTests {
    @Test("close() makes run() return while its start waits for the migration lock another process holds")
    func closeEndsARunWaitingForTheMigrationLock() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.connectTimeout = .seconds(2)
        configuration.requestTimeout = .seconds(2)
        let logger = Logger(label: "probe")
        // Another process migrates (or restores, or drops) this schema: it holds the migration lock.
        let other = try await PostgresTestServer.connect(configuration, id: 8)
        try await other.query(
            "SELECT pg_advisory_lock(\(PostgresSchema.lockClass + 1), hashtext(\(configuration.schema)))", logger: logger)

        let store = try PostgresEventStore(configuration: configuration)
        let outcome = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await store.run()
                    return "returned"
                } catch {
                    return "threw \(error)"
                }
            }
            // The store's start now waits for the lock.
            while (try? await other.query(
                """
                SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                    AND classid = \(Int64(PostgresSchema.lockClass + 1)) AND objid::bigint = (hashtext(\(configuration.schema))::bigint & 4294967295)
                """, logger: logger
            ).collect().first?.decode(Int64.self)) ?? 0 == 0 {
                if Task.isCancelled { break }
            }
            store.close()
            group.addTask {
                try? await Task.sleep(for: .seconds(15))
                return nil
            }
            let first = await group.next() ?? nil
            // Lets the store's start go on, whichever won, so that the test ends.
            _ = try? await other.query(
                "SELECT pg_advisory_unlock(\(PostgresSchema.lockClass + 1), hashtext(\(configuration.schema)))",
                logger: logger)
            group.cancelAll()
            await group.waitForAll()
            return first
        }
        try? await other.close()
        try? await PostgresTestServer.dropSchema(configuration)
        #expect(outcome != nil, "run() had not returned 15 s after close() (connect and request timeouts 2 s)")
    }
}
