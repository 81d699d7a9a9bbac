import Foundation
import Testing
import Whizbang

/// A repository's read batch size below 1 reads one event at a time: loading ends, and so does a command.
@Suite("Repository read batch size", .timeLimit(.minutes(1)))
struct RepositoryReadBatchTests {
    /// With a batch size of 0 each read asked for nothing, and the replay loop never ended; the counting store stops
    /// a caller that reads for ever, so a regression fails instead of hanging.
    @Test(arguments: [0, -5])
    func loadWithABatchSizeBelowOneReadsOneEventAtATime(batchSize: Int) async throws {
        let store = CountingStore(maximumReads: 100)
        let registry = BankAccount.events
        _ = try await store.append(
            [try registry.eventData(for: .opened(.init(initialDeposit: 5))), try registry.eventData(for: .deposited(.init(amount: 2)))],
            to: "a", expectedVersion: .noStream)
        var configuration = RepositoryConfiguration()
        configuration.readBatchSize = batchSize
        let repository = Repository<BankAccount, CountingStore>(store: store, configuration: configuration)
        let loaded = try await repository.load("a")
        #expect(loaded.state.balance == 7)
        #expect(loaded.version == 2)
        #expect(store.readLimits == [1, 1, 1])
    }

    /// The same through the dispatcher: the command completes, and the stream's lane is free for the next one.
    @Test func aCommandWithABatchSizeOfZeroCompletes() async throws {
        let store = CountingStore(maximumReads: 100)
        var configuration = RepositoryConfiguration()
        configuration.readBatchSize = 0
        configuration.cacheCapacity = 0
        let accounts = Dispatcher(store: store).aggregate(BankAccount.self, configuration: configuration)
        #expect(try await accounts.send(.open(5), to: "a").aggregate.state.balance == 5)
        #expect(try await accounts.send(.deposit(1), to: "a").aggregate.state.balance == 6)
    }
}
