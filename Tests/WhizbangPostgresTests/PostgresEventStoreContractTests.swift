import Testing
import WhizbangPostgres
import WhizbangTesting

/// The shared event store contract, run against a store in a fresh PostgreSQL schema per check.
///
/// Enabled when `WHIZBANG_POSTGRES_URL` names a server; skipped otherwise, except under `CI=true`, where the missing
/// server fails every check.
@Suite(
    "PostgresEventStore contract",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    // One store at a time in this suite: 65 checks starting together would open hundreds of connections at once.
    .serialized,
    .timeLimit(.minutes(5))
)
struct PostgresEventStoreContractTests {
    @Test(arguments: EventStoreContract.checks)
    func contract(_ check: EventStoreContractCheck) async throws {
        try await PostgresTestServer.withStore { store in
            try await check.run(store)
        }
    }
}
