import Testing
import WhizbangStore
import WhizbangTesting

/// The shared event store contract, run against a fresh SQLite store per check.
@Suite("SQLiteEventStore contract", .timeLimit(.minutes(5)))
struct SQLiteEventStoreContractTests {
    @Test(arguments: EventStoreContract.checks)
    func contract(_ check: EventStoreContractCheck) async throws {
        try await withStore { store, _ in
            try await check.run(store)
        }
    }
}
