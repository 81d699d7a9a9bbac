import Testing
import Whizbang

@testable import WhizbangPostgres

/// The read-model follower's transactions on a connection that has ended.
@Suite(
    "PostgreSQL read-model transactions on an ended connection",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresReadModelEndedConnectionTests {
    /// Before, the follower began its transactions with PostgresNIO's `withTransaction`, whose `BEGIN` written to a
    /// closed connection never completes: the follower waited for its deadline, and a task was left behind.
    @Test("a read model's clean-up on a connection that has ended fails at once")
    func aCleanUpOnAnEndedConnectionFails() async throws {
        try await PostgresTestServer.withStore { store in
            let connection = try await PostgresTestServer.connect(store.configuration, id: 7)
            await connection.closeAndWait()
            // Raced without awaiting the clean-up itself, so that a clean-up that hangs fails the test, not the run.
            let (outcomes, sink) = AsyncStream<String>.makeStream()
            Task {
                do {
                    _ = try await store.readModels.cleanUp("balances", on: connection)
                    sink.yield("returned")
                } catch {
                    sink.yield("failed")
                }
            }
            Task {
                try? await Task.sleep(for: .seconds(20))
                sink.yield("still waiting after 20 s")
            }
            var first = outcomes.makeAsyncIterator()
            let outcome = await first.next()
            #expect(outcome == "failed")
        }
    }
}
