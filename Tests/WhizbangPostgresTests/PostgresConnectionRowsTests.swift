import Testing
import WhizbangPostgres

/// A connection that the server closes while it sends a result fails the call with `unavailable`.
///
/// PostgresNIO's async row sequence traps when the connection closes while the sequence waits for its consumer's
/// demand, which it does after every batch of rows it hands over: a server that crashed in the middle of a result
/// took the process down with it.
@Suite(
    "PostgreSQL connection closed in the middle of a result",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresConnectionRowsTests {
    @Test("a read whose connection closes right behind a row fails with unavailable")
    func readEndedBehindARow() async throws {
        var configuration = try PostgresTestServer.configuration()
        // The schema first, directly: a migration through the proxy under the 5 s deadline fails on a busy machine.
        try await PostgresTestServer.createTables(configuration)
        let proxy = try await RowCuttingProxy.start(upstreamHost: configuration.host, upstreamPort: configuration.port)
        configuration.host = "127.0.0.1"
        configuration.port = proxy.port
        configuration.requestTimeout = .seconds(5)
        do {
            try await PostgresTestServer.withStartedStore(configuration: configuration) { store in
                try await appendRetrying(makeEvents(3), to: "s", expectedVersion: .noStream, store: store)
                proxy.startCutting()
                await expectError(.unavailable) { _ = try await store.readAll(after: 0, limit: 10) }
                #expect(proxy.cuts >= 1)
                proxy.stopCutting()
                // Follow-up, not what is measured: the store may need a new connection through the proxy, which a
                // loaded machine can make miss the 5 s deadline.
                let events = try await retryingWhileUnavailable { try await store.readAll(after: 0, limit: 10) }
                #expect(events.count == 3)
            }
        } catch {
            try await proxy.stop()
            throw error
        }
        try await proxy.stop()
    }
}
