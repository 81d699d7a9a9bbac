import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// Rows that no store writes, made by hand (the schema has no check that a version or position is positive): a
/// negative value was converted to an unsigned one with a trap, which stopped the process, in every read that met it
/// (`replay`, `export`, a running console, any subscriber). It is now refused as `corruptDatabase`.
@Suite(
    "PostgresEventStore rows changed outside the store",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(2))
)
struct PostgresCorruptRowTests {
    @Test("a negative version or position in an event row, or a negative stream version, is corruptDatabase")
    func aNegativeVersionIsRefused() async throws {
        try await PostgresTestServer.withStore { store in
            _ = try await store.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            _ = try await store.append(makeEvents(1), to: "t", expectedVersion: .noStream)
            let schema = store.configuration.schema
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".events SET version = -1 WHERE position = 1", configuration: store.configuration)
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".events SET position = -5 WHERE position = 2", configuration: store.configuration)
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".streams SET version = -2 WHERE stream_id = 't'",
                configuration: store.configuration)
            await expectError(.corruptDatabase) { _ = try await store.readAll(after: 0, limit: 10) }
            await expectError(.corruptDatabase) {
                _ = try await store.readStream("s", from: 1, direction: .forwards, limit: 10)
            }
            await expectError(.corruptDatabase) { _ = try await store.streamVersion(of: "t") }
            // The rows after it read as they are.
            #expect(try await store.readAll(after: 1, limit: 10).map(\.position) == [3])
        }
    }
}
