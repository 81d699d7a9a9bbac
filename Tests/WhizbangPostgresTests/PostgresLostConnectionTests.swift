import PostgresNIO
import Synchronization
import Testing
import Whizbang
import WhizbangPostgres

/// A call whose connection the server ends in the middle of a caller's body fails at once with `unavailable`, and the
/// next call does not get that connection.
@Suite(
    "PostgresEventStore calls whose connection ends in the caller's body",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresLostConnectionTests {
    /// A store whose requests may take 60 s: a call that fails only at that deadline takes far longer than one that
    /// fails with its connection, even on a machine so busy that the failing statement itself takes seconds.
    static func configuration() throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = .seconds(60)
        return configuration
    }

    /// When the body began: the time measured runs from there, not from the call, whose start (the store's, a
    /// connection's) takes seconds on a busy machine.
    final class BodyStart: Sendable {
        private let instant = Mutex<ContinuousClock.Instant?>(nil)

        func mark() { instant.withLock { $0 = .now } }

        var elapsed: Duration? { instant.withLock { $0.map { .now - $0 } } }
    }

    @Test("withTransaction fails at once when its connection ends in the body")
    func aTransactionWhoseConnectionEndsFailsAtOnce() async throws {
        try await PostgresTestServer.withStore(configuration: Self.configuration()) { store in
            let bodyStart = BodyStart()
            let error = await expectError(.unavailable) {
                try await store.withTransaction { transaction in
                    bodyStart.mark()
                    try await transaction.connection.run(
                        "SELECT pg_terminate_backend(pg_backend_pid())", logger: transaction.logger)
                }
            }
            let elapsed = try #require(bodyStart.elapsed)
            #expect(elapsed < .seconds(30), "the call failed \(elapsed) after its body began: \(String(describing: error))")
            let appended = try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .noStream, store: store)
            #expect(appended.positions == 1..<2)
        }
    }

    @Test("withConnection fails at once when its connection ends in the body")
    func aConnectionThatEndsInTheBodyFailsAtOnce() async throws {
        try await PostgresTestServer.withStore(configuration: Self.configuration()) { store in
            let bodyStart = BodyStart()
            let error = await expectError(.unavailable) {
                try await store.withConnection { connection, logger in
                    bodyStart.mark()
                    try await connection.run("SELECT pg_terminate_backend(pg_backend_pid())", logger: logger)
                }
            }
            let elapsed = try #require(bodyStart.elapsed)
            #expect(elapsed < .seconds(30), "the call failed \(elapsed) after its body began: \(String(describing: error))")
        }
    }
    /// Before, a statement on a connection already known closed threw NIO's `ChannelError` out of the call as the
    /// body's own error: callers that retry `unavailable` stopped instead.
    @Test("a statement a body runs after its connection ended fails the call with unavailable")
    func aStatementAfterTheConnectionEndedIsUnavailable() async throws {
        try await PostgresTestServer.withStore(configuration: Self.configuration()) { store in
            await expectError(.unavailable) {
                try await store.withTransaction { transaction in
                    _ = try? await transaction.connection.run(
                        "SELECT pg_terminate_backend(pg_backend_pid())", logger: transaction.logger)
                    try await transaction.connection.run("SELECT 1", logger: transaction.logger)
                }
            }
            await expectError(.unavailable) {
                try await store.withConnection { connection, logger in
                    _ = try? await connection.run("SELECT pg_terminate_backend(pg_backend_pid())", logger: logger)
                    try await connection.run("SELECT 1", logger: logger)
                }
            }
        }
    }

    /// Before, only the idle time was set: a client cut off mid-transaction kept its locks until the system's
    /// keepalive gave up, 9 probes 75 s apart after the idle time.
    @Test("the store's connections end after three unanswered keepalives, as far apart as the idle time")
    func keepalivesEndADeadClientsSession() async throws {
        var configuration = try Self.configuration()
        configuration.keepAliveInterval = .seconds(7)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let settings = try await store.withConnection { connection, logger in
                try await connection.rows(
                    """
                    SELECT name || '=' || setting FROM pg_settings
                    WHERE name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count')
                    ORDER BY name
                    """, decoding: String.self, logger: logger)
            }
            #expect(settings == ["tcp_keepalives_count=3", "tcp_keepalives_idle=7", "tcp_keepalives_interval=7"])
        }
    }

    @Test("a call after a body that ended its connection and went on gets a connection that works")
    func aCallAfterABodyThatEndedItsConnectionWorks() async throws {
        var configuration = try Self.configuration()
        // The listener holds one connection: every call uses the other.
        configuration.maximumConnections = 2
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            for round in 1...5 {
                // The body's statement fails with its connection, and the body returns all the same.
                try await store.withConnection { connection, logger in
                    _ = try? await connection.run("SELECT pg_terminate_backend(pg_backend_pid())", logger: logger)
                }
                do {
                    _ = try await store.headPosition()
                } catch {
                    Issue.record("round \(round): the next call failed: \(error)")
                }
            }
        }
    }
}
