import Synchronization
import Testing
import Whizbang
import WhizbangTesting

/// The read model store contract, run against an in-memory store; "reopening" copies the previous store's contents.
@Suite("InMemoryEventStore read model contract", .timeLimit(.minutes(5)))
struct InMemoryReadModelStoreContractTests {
    @Test(arguments: ReadModelStoreContract.checks)
    func contract(_ check: ReadModelStoreContractCheck) async throws {
        let last = Mutex<InMemoryEventStore?>(nil)
        try await check.run(
            ReadModelStoreOpener(
                open: { readModels in
                    var configuration = InMemoryEventStore.Configuration()
                    configuration.readModels = readModels
                    let previous = last.withLock { $0 }
                    let store =
                        try previous?.reopened(configuration: configuration)
                        ?? InMemoryEventStore(validating: configuration)
                    last.withLock { $0 = store }
                    return store
                },
                close: { _ in }))
    }

    @Test func checkNamesAreUnique() {
        let names = ReadModelStoreContract.checks.map(\.name)
        #expect(Set(names).count == names.count)
    }
}
