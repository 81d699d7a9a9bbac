import Testing
import WhizbangPostgres

/// A statement whose first preparation on a connection failed works again once the cause is gone.
///
/// PostgresNIO remembers a failed preparation on the connection and answers every later use of that statement with
/// the same error, without asking the server. A node whose reads timed out once behind a long lock kept failing every
/// batch afterwards while it heartbeated and held its partitions, so no other node took them over.
@Suite(
    "PostgreSQL statements after a failed preparation",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresPreparationFailureTests {
    @Test("a read whose preparation timed out behind a lock succeeds once the lock is released")
    func preparationFailureDoesNotStick() async throws {
        var configuration = try PostgresTestServer.configuration()
        // One pooled connection beside the listener's, so that the read after the lock runs where the failed
        // preparation did; the server's statement timeout fires well before the store's own deadline, as a cluster
        // node's does. 2 s, not less: the statements that must succeed (the setup's append, the reads after the
        // release) run under the same limit, and on a loaded machine a few hundred milliseconds can be too short.
        configuration.maximumConnections = 2
        configuration.statementTimeout = .seconds(2)
        configuration.requestTimeout = .seconds(10)
        try await PostgresTestServer.createTables(configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            let lock = try await PostgresTableLock.lockEvents(of: configuration)
            // The stream read's statement is prepared for the first time here, and its preparation waits for the lock
            // until the statement timeout cancels it.
            await #expect(throws: EventStoreError.self) {
                _ = try await store.readStream("s", from: 1, direction: .forwards, limit: 10)
            }
            try await lock.release()
            // Every pooled connection answers, the one the preparation failed on included.
            for _ in 0..<4 {
                #expect(try await store.readStream("s", from: 1, direction: .forwards, limit: 10).count == 1)
            }
        }
    }
}
