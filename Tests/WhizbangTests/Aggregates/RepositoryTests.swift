import Foundation
import Testing
import Whizbang

@Suite struct RepositoryTests {
    @Test func loadsAnAggregateWithNoEventsAsItsInitialState() async throws {
        let repository = Repository<BankAccount, InMemoryEventStore>(store: InMemoryEventStore())
        let loaded = try await repository.load("account-1")
        #expect(loaded.version == 0)
        #expect(loaded.state == BankAccount.initialState)
    }

    @Test func savesAtTheLoadedVersionAndRejectsAStaleSave() async throws {
        let store = InMemoryEventStore()
        let repository = Repository<BankAccount, InMemoryEventStore>(store: store)
        let fresh = try await repository.load("account-1")
        let saved = try await repository.save([.opened(.init(initialDeposit: 10))], after: fresh)
        #expect(saved.aggregate.version == 1)
        #expect(saved.aggregate.state.balance == 10)
        await #expect {
            _ = try await repository.save([.deposited(.init(amount: 1))], after: fresh)
        } throws: { error in
            (error as? EventStoreError)?.code == .wrongExpectedVersion
        }
        // The failed save dropped the cache entry, so the next load reads the store.
        let reloaded = try await repository.load("account-1")
        #expect(reloaded.version == 1)
        #expect(reloaded.state.balance == 10)
    }

    /// Another writer on the same store moved a cached aggregate's stream on: a load used to return the cached state,
    /// a version behind, until something dropped the entry. It now reads the stream's version and the new events.
    @Test func aLoadSeesWhatAnotherWriterAppendedAfterTheCachedState() async throws {
        let store = InMemoryEventStore()
        let mine = Repository<BankAccount, InMemoryEventStore>(store: store)
        let other = Repository<BankAccount, InMemoryEventStore>(store: store)
        _ = try await mine.save([.opened(.init(initialDeposit: 10))], after: try await mine.load("account-1"))
        #expect(mine.cachedCount == 1)
        _ = try await other.save([.deposited(.init(amount: 5))], after: try await other.load("account-1"))
        let loaded = try await mine.load("account-1")
        #expect(loaded.version == 2)
        #expect(loaded.state.balance == 15)
        // And the cache holds the state read again.
        #expect(try await mine.load("account-1").version == 2)
    }

    @Test func theCacheIsBounded() async throws {
        var configuration = RepositoryConfiguration()
        configuration.cacheCapacity = 50
        let repository = Repository<BankAccount, InMemoryEventStore>(
            store: InMemoryEventStore(), configuration: configuration)
        for index in 0..<1_000 {
            let loaded = try await repository.load(StreamID("account-\(index)"))
            _ = try await repository.save([.opened(.init(initialDeposit: index))], after: loaded)
        }
        #expect(repository.cachedCount == 50)
        #expect(try await repository.load("account-7").state.balance == 7)
    }

    @Test func writesSnapshotsAndLoadsFromThem() async throws {
        let store = InMemoryEventStore()
        var configuration = RepositoryConfiguration()
        configuration.snapshotInterval = 10
        configuration.cacheCapacity = 0
        let repository = Repository<BankAccount, InMemoryEventStore>(store: store, configuration: configuration)
        var loaded = try await repository.save([.opened(.init(initialDeposit: 0))], after: repository.load("a"))
            .aggregate
        for _ in 0..<24 {
            loaded = try await repository.save([.deposited(.init(amount: 1))], after: loaded).aggregate
        }
        let snapshot = try #require(try await store.latestSnapshot(for: "a"))
        #expect(snapshot.streamVersion == 20)
        #expect(snapshot.stateType == BankAccount.snapshotType)
        // Make the snapshot disagree with the events: a load that uses it shows the snapshot's balance plus the
        // five deposits after version 20.
        let doctored = BankAccount.State(isOpen: true, balance: 1_000)
        try await store.saveSnapshot(
            Snapshot(streamID: "a", streamVersion: 20, stateType: BankAccount.snapshotType,
                     data: try JSONEncoder().encode(doctored)))
        #expect(try await repository.load("a").state.balance == 1_005)
        #expect(try await repository.load("a").version == 25)
    }

    @Test func ignoresASnapshotOfAnotherShape() async throws {
        let store = InMemoryEventStore()
        var configuration = RepositoryConfiguration()
        configuration.snapshotInterval = 100
        configuration.cacheCapacity = 0
        let repository = Repository<BankAccount, InMemoryEventStore>(store: store, configuration: configuration)
        _ = try await repository.save([.opened(.init(initialDeposit: 3))], after: repository.load("a"))
        try await store.saveSnapshot(
            Snapshot(streamID: "a", streamVersion: 1, stateType: "BankAccount.State.v0", data: Data("{}".utf8)))
        let loaded = try await repository.load("a")
        #expect(loaded.state.balance == 3)
    }

    /// Before, a snapshot at version 10 of a stream at 3 loaded as version 10, and every save after it expected a
    /// version the stream did not have: the aggregate could not take a command again.
    @Test func setsASnapshotAheadOfItsStreamAside() async throws {
        let store = InMemoryEventStore()
        var configuration = RepositoryConfiguration()
        configuration.snapshotInterval = 5
        configuration.cacheCapacity = 0
        configuration.readBatchSize = 1
        let repository = Repository<BankAccount, InMemoryEventStore>(store: store, configuration: configuration)
        var loaded = try await repository.save([.opened(.init(initialDeposit: 3))], after: repository.load("a"))
            .aggregate
        loaded = try await repository.save([.deposited(.init(amount: 1))], after: loaded).aggregate
        _ = try await repository.save([.deposited(.init(amount: 1))], after: loaded)
        try await store.saveSnapshot(
            Snapshot(
                streamID: "a", streamVersion: 10, stateType: BankAccount.snapshotType,
                data: try JSONEncoder().encode(BankAccount.State(isOpen: true, balance: 1_000))))
        let reloaded = try await repository.load("a")
        #expect(reloaded.version == 3)
        #expect(reloaded.state.balance == 5)
        let saved = try await repository.save([.deposited(.init(amount: 1))], after: reloaded).aggregate
        #expect(saved.version == 4)
    }
}
