import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import WhizbangPostgres

/// Holds an exclusive lock on a store's `events` table from a connection of its own, so that every append and read
/// of the store blocks inside the server: a server that does not answer, made on demand and released on demand.
final class PostgresTableLock: Sendable {
    private let connection: PostgresConnection
    private let configuration: PostgresEventStore.Configuration
    private static let logger = Logger(label: "whizbang.postgres.tests.lock")

    private init(connection: PostgresConnection, configuration: PostgresEventStore.Configuration) {
        self.connection = connection
        self.configuration = configuration
    }

    /// Locks the `events` table of `configuration`'s schema until ``release()``.
    static func lockEvents(of configuration: PostgresEventStore.Configuration) async throws -> PostgresTableLock {
        let connection = try await PostgresTestServer.connect(configuration, id: 2)
        do {
            try await connection.query("BEGIN", logger: logger)
            try await connection.query(
                PostgresQuery(unsafeSQL: "LOCK TABLE \"\(configuration.schema)\".events IN ACCESS EXCLUSIVE MODE"),
                logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        return PostgresTableLock(connection: connection, configuration: configuration)
    }

    /// The process id of a server backend that waits for this lock, once one does.
    func waitingBackend() async throws -> Int32 {
        try await waitingBackends(atLeast: 1)[0]
    }

    /// The process ids of the server backends that wait for this lock, once at least `count` do
    /// (``PostgresLockWaiters``: the server's lock table is the only place a lock wait shows).
    func waitingBackends(atLeast count: Int) async throws -> [Int32] {
        try await PostgresLockWaiters.waiting(
            for: .table("\"\(configuration.schema)\".events"), atLeast: count, on: connection)
    }

    /// Ends the server backend `pid`, as a crash of its connection would (the client sees SQLSTATE 57P01 and a
    /// closed connection).
    func terminate(_ pid: Int32) async throws {
        try await connection.query("SELECT pg_terminate_backend(\(pid))", logger: Self.logger)
    }

    /// Ends every backend still waiting for the lock, then releases it. A request the store gave up on at its
    /// deadline leaves its backend waiting here (the server notices the closed connection only when it next writes to
    /// it); ended first, it cannot run once the lock is released and get in the way of dropping the schema.
    func releaseEndingWaiters() async throws {
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT pg_terminate_backend(pid) FROM pg_locks
                    WHERE NOT granted AND relation = '"\(configuration.schema)".events'::regclass
                    """), logger: Self.logger)
        try await release()
    }

    /// Releases the lock and closes the connection.
    func release() async throws {
        try await connection.query("ROLLBACK", logger: Self.logger)
        try await connection.close()
    }
}
