import Synchronization
import Testing
import Whizbang
import WhizbangPostgres
import WhizbangTesting

/// The read model store contract, run against PostgreSQL stores reopened on one fresh schema per check.
@Suite(
    "PostgresEventStore read model contract",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresReadModelStoreContractTests {
    @Test(arguments: ReadModelStoreContract.checks)
    func contract(_ check: ReadModelStoreContractCheck) async throws {
        let base = try PostgresTestServer.configuration()
        // Each opened store runs until it is closed; closing waits for its run() to return.
        let running = Mutex<[(store: PostgresEventStore, run: Task<Void, any Error>)]>([])
        do {
            try await check.run(
                ReadModelStoreOpener(
                    open: { readModels in
                        var configuration = base
                        configuration.readModels = readModels
                        // Small batches, so that the contract's history takes several of them.
                        configuration.readModelBatchSize = 250
                        // The contract checks results, not deadlines: a host loaded by every suite starting at once
                        // made an append wait past the default 10 s (CI), which is not what these checks are about.
                        configuration.requestTimeout = .seconds(60)
                        let store = try PostgresEventStore(configuration: configuration)
                        let run = Task { try await store.run() }
                        running.withLock { $0.append((store, run)) }
                        return store
                    },
                    close: { store in
                        guard let store = store as? PostgresEventStore else { return }
                        store.close()
                        let run = running.withLock { running in running.first { $0.store === store }?.run }
                        _ = await run?.result
                    }))
        } catch {
            await Self.closeAll(running.withLock { $0 })
            try? await PostgresTestServer.dropSchema(base)
            throw error
        }
        await Self.closeAll(running.withLock { $0 })
        try await PostgresTestServer.dropSchema(base)
    }

    private static func closeAll(_ running: [(store: PostgresEventStore, run: Task<Void, any Error>)]) async {
        for (store, run) in running {
            store.close()
            _ = await run.result
        }
    }
}
