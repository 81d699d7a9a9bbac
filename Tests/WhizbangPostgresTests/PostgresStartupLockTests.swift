import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import Synchronization
import Testing

@testable import WhizbangPostgres

/// Starting a store while another process migrates, restores or drops its schema, and so holds the migration lock:
/// the start waits for the lock at most ``PostgresEventStore/Configuration/requestTimeout``, and
/// ``PostgresEventStore/close()`` or cancellation end the wait at once.
///
/// `run()` once waited for that lock without end, and neither `close()` nor cancellation made it return.
@Suite(
    "PostgresEventStore start behind the migration lock",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresStartupLockTests {
    static let logger = Logger(label: "startup")

    /// Takes the migration lock of `configuration`'s schema on a connection of its own, as another process would.
    static func holdMigrationLock(_ configuration: PostgresEventStore.Configuration) async throws -> PostgresConnection {
        let other = try await PostgresTestServer.connect(configuration, id: 8)
        try await other.query(
            "SELECT pg_advisory_lock(\(PostgresSchema.lockClass + 1), hashtext(\(configuration.schema)))",
            logger: logger)
        return other
    }

    /// Returns once a session waits for the migration lock that `other` holds (``PostgresLockWaiters``: the server's
    /// lock table is the only place a lock wait shows), or once `ended` says the start has ended. A start that gives up
    /// after a short request timeout can do so between two looks, and the wait would otherwise go on until its
    /// deadline.
    static func waitForAWaiter(
        on other: PostgresConnection, _ configuration: PostgresEventStore.Configuration,
        orUntil ended: @Sendable () -> Bool
    ) async throws {
        _ = try await PostgresLockWaiters.waiting(
            for: .advisory(PostgresSchema.lockClass + 1, hashOf: configuration.schema), on: other, orUntil: ended)
    }

    /// Runs `store`, calls `end` once its start waits for the lock that `other` holds, and returns how `run()`
    /// ended.
    static func outcome(
        of store: PostgresEventStore, behind other: PostgresConnection,
        _ configuration: PostgresEventStore.Configuration, end: @escaping @Sendable (Task<Void, any Error>) -> Void
    ) async throws -> String? {
        let ended = RunEnded()
        let run = Task {
            defer { ended.set() }
            try await store.run()
        }
        try await waitForAWaiter(on: other, configuration, orUntil: { ended.isSet })
        end(run)
        // The start must end at once; the suite's time limit fails the test if it waits on.
        let outcome: String
        do {
            try await run.value
            outcome = "returned"
        } catch {
            outcome = "threw \(error)"
        }
        // Lets another waiting start go on.
        _ = try? await other.query(
            "SELECT pg_advisory_unlock(\(PostgresSchema.lockClass + 1), hashtext(\(configuration.schema)))",
            logger: logger)
        return outcome
    }

    /// A configuration whose request timeout is longer than the tests wait: only `close()` or cancellation can end
    /// the start in time.
    static func configuration() throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        configuration.connectTimeout = .seconds(2)
        configuration.requestTimeout = .seconds(60)
        return configuration
    }

    @Test("close() makes run() return while its start waits for the migration lock another process holds")
    func closeEndsARunWaitingForTheMigrationLock() async throws {
        let configuration = try Self.configuration()
        let other = try await Self.holdMigrationLock(configuration)
        let store = try PostgresEventStore(configuration: configuration)
        let outcome = try await Self.outcome(of: store, behind: other, configuration) { _ in store.close() }
        try? await other.close()
        try? await PostgresTestServer.dropSchema(configuration)
        #expect(outcome == "returned", "run() had not returned 15 s after close() (request timeout 60 s)")
        await expectError(.closed) { _ = try await store.headPosition() }
    }

    @Test("cancelling run() makes it return while its start waits for the migration lock")
    func cancellationEndsARunWaitingForTheMigrationLock() async throws {
        let configuration = try Self.configuration()
        let other = try await Self.holdMigrationLock(configuration)
        let store = try PostgresEventStore(configuration: configuration)
        let outcome = try await Self.outcome(of: store, behind: other, configuration) { run in run.cancel() }
        try? await other.close()
        try? await PostgresTestServer.dropSchema(configuration)
        #expect(outcome == "returned", "run() had not returned 15 s after its cancellation (request timeout 60 s)")
    }

    @Test("a start that waits for the migration lock longer than the request timeout fails with unavailable")
    func aStartBehindTheMigrationLockFailsAfterTheRequestTimeout() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = .seconds(1)
        let other = try await Self.holdMigrationLock(configuration)
        let store = try PostgresEventStore(configuration: configuration)
        let outcome = try await Self.outcome(of: store, behind: other, configuration) { _ in }
        try? await other.close()
        try? await PostgresTestServer.dropSchema(configuration)
        let result = try #require(outcome, "run() had not returned after 15 s (request timeout 1 s)")
        // The server's lock or statement timeout, which are equal, or the store's own deadline for the statement,
        // whichever ends the wait first.
        #expect(
            result.contains("unavailable") && (result.contains("timeout") || result.contains("did not answer")),
            "\(result)")
        // The store will not try again: its calls fail for good.
        await expectError(.closed) { _ = try await store.headPosition() }
    }
}

/// Whether a store's `run()` has returned, for a wait that asks in a loop.
private final class RunEnded: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
