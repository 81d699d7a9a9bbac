import Logging
import PostgresNIO
import Synchronization
import Testing
import Whizbang

@testable import WhizbangPostgres

/// The head a store learns from notifications: a notification wakes waiters only as far as the log goes.
@Suite(
    "PostgresEventStore heads learned from notifications",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresNotifiedHeadTests {
    /// Before, the store took a notified position as its head: every caught-up consumer's wait returned at once, and
    /// read nothing, in a loop, until the log reached that position (perhaps never: after commits a crash lost, or a
    /// notification sent by hand).
    @Test("a notification naming a position past the log moves the head no further than the log")
    func aNotificationPastTheLogMovesTheHeadOnlyToTheLog() async throws {
        try await PostgresTestServer.withStore { writer in
            _ = try await writer.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            var readOnly = writer.configuration
            readOnly.isReadOnly = true
            try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: readOnly)) { reader in
                try await reader.waitForEvents(after: 0)
                let channel = writer.configuration.notificationChannel
                try await writer.withConnection { connection, logger in
                    try await connection.run("SELECT pg_notify(\(channel), '1000000')", logger: logger)
                }
                // Notifications arrive in commit order: once the reader has this append's, it had the one above.
                _ = try await writer.append(makeEvents(1), to: "s", expectedVersion: .exact(1))
                try await reader.waitForEvents(after: 1)
                #expect(reader.signal.head == 2)
                // A caught-up consumer waits for the next append, instead of returning at once to read nothing.
                let appended = Mutex(false)
                let waiter = Task {
                    try await reader.waitForEvents(after: 2)
                    return appended.withLock { $0 }
                }
                while reader.notifiedHead.waiting == 0 { await Task.yield() }
                appended.withLock { $0 = true }
                _ = try await writer.append(makeEvents(1), to: "s", expectedVersion: .exact(2))
                #expect(try await waiter.value, "the wait returned before the append")
                #expect(reader.signal.head == 3)
            }
        }
    }

    /// Before, a transaction's appends moved the head as they returned, also those that the body then rolled back to
    /// a savepoint: the head stood past the log, and every caught-up consumer's wait returned at once, in a loop.
    @Test("appends a transaction rolled back to a savepoint do not move the head")
    func appendsRolledBackToASavepointLeaveTheHead() async throws {
        try await PostgresTestServer.withStore { store in
            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            try await store.withTransaction { transaction in
                let connection = transaction.connection
                try await connection.run("SAVEPOINT undone", logger: transaction.logger)
                let results = try await transaction.append([
                    PostgresStoreAppend(makeEvents(2), to: "t", expectedVersion: .noStream)
                ])
                #expect(try results[0].get().positions == 2..<4)
                try await connection.run("ROLLBACK TO SAVEPOINT undone", logger: transaction.logger)
            }
            #expect(try await store.headPosition() == 1)
            #expect(store.signal.head == 1)
            try await expectWaitLastsUntilAnAppend(on: store, after: 1) {
                _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .exact(1))
            }
        }
    }

    /// Before, the store's head never moved back. After commits it had acknowledged were lost (a server crash under
    /// `.normal` durability, which acknowledges before the flush), every consumer caught up with the log found its
    /// wait over at once, read nothing, and went round again without pause until appends passed the lost positions.
    /// The lost commits are made here by deleting their rows; the store's periodic read of the head finds them gone.
    @Test("a head read below the announced one moves the store's head back, so a caught-up consumer waits")
    func aLostTailMovesTheHeadBack() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.keepAliveInterval = .milliseconds(100)
        let records = RecordingLogHandler.Records()
        configuration.logger = RecordingLogHandler.logger(level: .warning, records: records)
        try await PostgresTestServer.createTables(configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            _ = try await store.append(makeEvents(3), to: "s", expectedVersion: .noStream)
            #expect(store.signal.head == 3)
            try await PostgresTestServer.execute(
                "DELETE FROM \"\(configuration.schema)\".events WHERE position > 1", configuration: configuration)
            // The listener reads the head every keep-alive interval, and warns once it has moved the head back to
            // the one it read. Without that warning, the suite's time limit ends the wait and fails the test.
            _ = try await records.first { $0.message.hasPrefix("the log ends before the head this store announced") }
            #expect(store.signal.head == 1)
            try await expectWaitLastsUntilAnAppend(on: store, after: 1) {
                _ = try await store.append(makeEvents(1), to: "t", expectedVersion: .noStream)
            }
        }
    }

    /// Expects a consumer caught up at `position` to wait, and its wait to end only after `append`: a wait that
    /// returned at once, before anything was appended, fails.
    private func expectWaitLastsUntilAnAppend(
        on store: PostgresEventStore, after position: UInt64, _ append: () async throws -> Void
    ) async throws {
        let appended = Mutex(false)
        let returned = Mutex(false)
        let waiter = Task {
            defer { returned.withLock { $0 = true } }
            try await store.waitForEvents(after: position)
            return appended.withLock { $0 }
        }
        while store.notifiedHead.waiting == 0, !returned.withLock({ $0 }) { await Task.yield() }
        appended.withLock { $0 = true }
        try await append()
        #expect(try await waiter.value, "the wait returned before the append")
    }
}
