import Logging
import PostgresNIO
import Testing
import Whizbang
import WhizbangPostgres

/// ``PostgresEventStore/withTransaction(_:)`` returns only when the transaction committed.
///
/// A statement that fails in a transaction aborts it, and PostgreSQL answers the `COMMIT` that follows with a
/// rollback, not an error: a body that caught its statement's error and returned still had its appends undone.
@Suite(
    "PostgresEventStore transactions that end in a rollback",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresTransactionCommitTests {
    @Test("a transaction whose body caught a failed statement fails instead of reporting its appends")
    func aTransactionAbortedInItsBodyFails() async throws {
        try await PostgresTestServer.withStore { store in
            await expectError(.storageFailure) {
                _ = try await store.withTransaction { transaction in
                    let results = try await transaction.append([
                        PostgresStoreAppend(makeEvents(2), to: "orders-1", expectedVersion: .noStream)
                    ])
                    // The caller's own statement fails, and the caller goes on without it.
                    _ = try? await transaction.connection.run("SELECT 1 / 0", logger: transaction.logger)
                    return results
                }
            }
            #expect(try await store.headPosition() == 0)
            #expect(try await store.streamVersion(of: "orders-1") == 0)
            let appended = try await store.append(makeEvents(1), to: "orders-1", expectedVersion: .noStream)
            #expect(appended.positions == 1..<2)
        }
    }

    /// A deadlock's victim and a serialization failure were `storageFailure`, which callers take as final, though
    /// the server rolled the transaction back and the same call succeeds when tried again.
    @Test("a transaction rolled back as a deadlock's victim or for a serialization failure is unavailable")
    func deadlocksAndSerializationFailuresAreRetryable() async throws {
        var configuration = try PostgresTestServer.configuration()
        let records = RecordingLogHandler.Records()
        configuration.logger = RecordingLogHandler.logger(level: .info, records: records)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            for state in ["40P01", "40001"] {
                await expectError(.unavailable) {
                    _ = try await store.withTransaction { transaction in
                        _ = try await transaction.append([
                            PostgresStoreAppend(makeEvents(1), to: "orders-2", expectedVersion: .noStream)
                        ])
                        let raise = "DO $$ BEGIN RAISE EXCEPTION 'as the server would' USING ERRCODE = '\(state)'; END $$"
                        try await transaction.connection.run(PostgresQuery(unsafeSQL: raise), logger: transaction.logger)
                    }
                }
            }
            let head = try await store.headPosition()
            #expect(head == 0)
        }
        // A server that answers is not out: no outage is logged for them.
        let warnings = records.all.filter { $0.level >= .warning }.map(\.message)
        #expect(warnings.isEmpty, "\(warnings)")
    }
}
