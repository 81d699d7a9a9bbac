import Foundation
import Synchronization
import Testing
import Whizbang
import WhizbangStore
import WhizbangTesting

/// The read model store contract, run against SQLite stores reopened on one temporary database per check.
@Suite("SQLiteEventStore read model contract", .timeLimit(.minutes(5)))
struct SQLiteReadModelStoreContractTests {
    @Test(arguments: ReadModelStoreContract.checks)
    func contract(_ check: ReadModelStoreContractCheck) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("events.sqlite").path
            let opened = Mutex<[SQLiteEventStore]>([])
            defer { for store in opened.withLock({ $0 }) { store.close() } }
            try await check.run(
                ReadModelStoreOpener(
                    open: { readModels in
                        var configuration = SQLiteEventStore.Configuration.testing
                        configuration.readModels = readModels
                        // Small batches, so that the contract's history takes several of them.
                        configuration.readModelBatchSize = 250
                        let store = try await SQLiteEventStore.open(path: path, configuration: configuration)
                        opened.withLock { $0.append(store) }
                        return store
                    },
                    close: { store in
                        guard let store = store as? SQLiteEventStore else { return }
                        await store.shutdown()
                    }))
        }
    }
}
