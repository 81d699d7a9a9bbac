import Foundation
import Testing
import Whizbang

/// The code of the article "Snapshots" (`Sources/Whizbang/Docs.docc/Snapshots.md`), compiled and run. Keep the two
/// in step: change one, change the other.
@Suite(.timeLimit(.minutes(5)))
struct SnapshotsArticleTests {
    typealias Account = BankAccount

    @Test func aSnapshotIsTakenWhenAStreamPassesAMultipleOfTheInterval() async throws {
        let store = InMemoryEventStore()
        let dispatcher = Dispatcher(store: store)

        var configuration = RepositoryConfiguration()
        configuration.snapshotInterval = 100  // a snapshot each time a stream passes a multiple of 100 events
        let accounts = dispatcher.aggregate(Account.self, configuration: configuration)

        _ = try await accounts.send(.open(0), to: "account-1")
        for _ in 1..<99 { _ = try await accounts.send(.deposit(1), to: "account-1") }
        #expect(try await store.latestSnapshot(for: "account-1") == nil)
        for _ in 99..<101 { _ = try await accounts.send(.deposit(1), to: "account-1") }
        let snapshot = try #require(try await store.latestSnapshot(for: "account-1"))
        #expect(snapshot.streamVersion == 100)
        #expect(snapshot.stateType == Account.snapshotType)
        await dispatcher.shutdown()
    }

    @Test func loadingOutsideACommand() async throws {
        let store = InMemoryEventStore()
        let dispatcher = Dispatcher(store: store)
        var configuration = RepositoryConfiguration()
        configuration.snapshotInterval = 100
        let accounts = dispatcher.aggregate(Account.self, configuration: configuration)
        _ = try await accounts.send(.open(10), to: "account-1")
        _ = try await accounts.send(.deposit(5), to: "account-1")

        let account = try await accounts.load("account-1")
        print(account.version, account.state.balance)
        #expect(account.version == 2 && account.state.balance == 15)

        let repository = Repository<Account, _>(store: store, configuration: configuration)
        let loaded = try await repository.load("account-1")
        #expect(loaded.version == 2 && loaded.state.balance == 15)
        await dispatcher.shutdown()
    }

    /// A snapshot under another state name, or one that does not decode, is ignored: the stream is replayed and the
    /// state is what the events say.
    @Test(arguments: [
        Snapshot(streamID: "account-1", streamVersion: 2, stateType: "BankAccount.State.v0", data: Data(
            #"{"isOpen":true,"balance":999}"#.utf8)),
        Snapshot(streamID: "account-1", streamVersion: 2, stateType: Account.snapshotType, data: Data(
            #"{"balanceInCents":1500}"#.utf8)),
    ])
    func aSnapshotOfAnotherShapeCostsTimeNotCorrectness(snapshot: Snapshot) async throws {
        let store = InMemoryEventStore()
        var configuration = RepositoryConfiguration()
        configuration.snapshotInterval = 100
        let accounts = Dispatcher(store: store).aggregate(Account.self, configuration: configuration)
        _ = try await accounts.send(.open(10), to: "account-1")
        _ = try await accounts.send(.deposit(5), to: "account-1")
        try await store.saveSnapshot(snapshot)

        let repository = Repository<Account, _>(store: store, configuration: configuration)
        let loaded = try await repository.load("account-1")
        #expect(loaded.version == 2 && loaded.state.balance == 15)
    }
}
