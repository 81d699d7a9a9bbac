import Testing
import Whizbang
import WhizbangTesting

@Suite struct InMemoryEventStoreContractTests {
    @Test(.timeLimit(.minutes(5)), arguments: EventStoreContract.checks)
    func contract(_ check: EventStoreContractCheck) async throws {
        try await check.run(InMemoryEventStore())
    }

    @Test func checkNamesAreUnique() {
        let names = EventStoreContract.checks.map(\.name)
        #expect(Set(names).count == names.count)
    }
}
