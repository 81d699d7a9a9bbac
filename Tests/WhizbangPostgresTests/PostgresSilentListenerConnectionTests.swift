import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// The connection that listens for other processes' appends, gone silent without closing (a network path that
/// drops packets after a failover or a host crash: no FIN, no RST). Before, the listener waited on it for ever, so
/// `waitForEvents`, subscriptions and projections never learned of appends committed elsewhere; now it checks the
/// connection every keep-alive interval, within the request deadline, and connects again when it does not answer.
@Suite(
    "PostgreSQL listener whose connection goes silent",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresSilentListenerConnectionTests {
    @Test("an append by another process reaches a waiter although the listener's connection went silent")
    func aSilentListenerConnectionIsReplaced() async throws {
        let direct = try PostgresTestServer.configuration()
        var proxied = direct
        let proxy = try await RowCuttingProxy.start(upstreamHost: direct.host, upstreamPort: direct.port)
        proxied.host = "127.0.0.1"
        proxied.port = proxy.port
        proxied.keepAliveInterval = .seconds(1)
        proxied.requestTimeout = .seconds(5)
        proxied.listenerReconnectDelay = .milliseconds(100)
        // The schema made first, under relaxed limits: a migration on a busy machine can take longer than the short
        // request deadline the listening store has for its check. A store closed as soon as it runs may close before
        // it migrates, so the tables are made by a store that has answered a call.
        try await PostgresTestServer.createTables(direct)
        do {
            try await PostgresTestServer.withStartedStore(configuration: proxied) { listening in
                let other = try PostgresEventStore(configuration: direct)
                try await PostgresTestServer.withRunningStore(other) { other in
                    // An append that reaches the waiter shows the listener listens, on a connection open now.
                    let head = try await retryingWhileUnavailable { try await listening.headPosition() }
                    _ = try await other.append(makeEvents(1), to: "before", expectedVersion: .noStream)
                    // A wait confirms a notified head with a read, which may miss the 5 s deadline on a loaded
                    // machine (`unavailable`, retryable): a caller waits again, as this test does.
                    try await retryingWhileUnavailable { try await listening.waitForEvents(after: head) }
                    proxy.freezeExisting()
                    _ = try await other.append(makeEvents(1), to: "after", expectedVersion: .noStream)
                    // Bounded by the keep-alive interval, the request deadline and a reconnect; before, never.
                    try await retryingWhileUnavailable { try await listening.waitForEvents(after: head + 1) }
                }
            }
        } catch {
            try await proxy.stop()
            throw error
        }
        try await proxy.stop()
    }
}
