import Synchronization
import Testing
import Whizbang

/// A command decided on a cached aggregate that another writer has moved on since (another process on the same
/// store; here another dispatcher). An append on old state fails with a conflict and is decided again; before, a
/// decision that appended nothing — a rejection, or a command with no events — was answered on the old state, and
/// nothing corrected it.
@Suite("Commands on a cached aggregate that another writer moved on")
struct CachedAggregateTests {
    @Test("a command the cached state rejects is decided again on the stored state")
    func aRejectionOnACachedAggregateIsDecidedAgain() async throws {
        let store = InMemoryEventStore()
        let mine = Dispatcher(store: store)
        let theirs = Dispatcher(store: store)
        let accounts = mine.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(100), to: "a")
        _ = try await theirs.aggregate(BankAccount.self).send(.deposit(500), to: "a")
        let result = try await accounts.send(.withdraw(300), to: "a")
        #expect(result.aggregate.state.balance == 300)
        #expect(result.aggregate.version == 3)
        #expect(result.attempts == 1)
        await mine.shutdown()
        await theirs.shutdown()
    }

    @Test("a command with no events on a cached aggregate answers with the stored version and state")
    func aCommandWithoutEventsAnswersWithTheStoredState() async throws {
        let store = InMemoryEventStore()
        let mine = Dispatcher(store: store)
        let theirs = Dispatcher(store: store)
        let accounts = mine.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(100), to: "a")
        _ = try await theirs.aggregate(BankAccount.self).send(.deposit(5), to: "a")
        let touched = try await accounts.send(.touch, to: "a")
        #expect(touched.aggregate.version == 2)
        #expect(touched.aggregate.state.balance == 105)
        #expect(touched.events.isEmpty)
        await mine.shutdown()
        await theirs.shutdown()
    }

    @Test("a rejection that holds on the stored state too is still a rejection")
    func aRejectionThatHoldsIsThrown() async throws {
        let store = InMemoryEventStore()
        let dispatcher = Dispatcher(store: store)
        let accounts = dispatcher.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(100), to: "a")
        await #expect(throws: BankAccount.Rejected(reason: "insufficient funds")) {
            _ = try await accounts.send(.withdraw(300), to: "a")
        }
        let deposited = try await accounts.send(.deposit(1), to: "a")
        #expect(deposited.aggregate.version == 2)
        await dispatcher.shutdown()
    }

    /// The read of the stream's version failed (a store that lost its server): the rejection decided on the cached
    /// state, which another writer had moved on, was thrown as final; the caller now gets the store's error.
    @Test("a rejection on a cached aggregate whose version cannot be read throws the store's error")
    func aRejectionWhoseCheckFailsThrowsTheStoresError() async throws {
        let store = VersionFailingStore()
        let mine = Dispatcher(store: store)
        let theirs = Dispatcher(store: store.inner)
        let accounts = mine.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(100), to: "a")
        _ = try await theirs.aggregate(BankAccount.self).send(.deposit(500), to: "a")
        store.failsVersionReads.withLock { $0 = true }
        await #expect {
            _ = try await accounts.send(.withdraw(300), to: "a")
        } throws: { error in
            (error as? EventStoreError)?.code == .unavailable
        }
        store.failsVersionReads.withLock { $0 = false }
        #expect(try await accounts.send(.withdraw(300), to: "a").aggregate.state.balance == 300)
        await mine.shutdown()
        await theirs.shutdown()
    }

    @Test("a command with no events on a cached aggregate whose version cannot be read throws the store's error")
    func anEmptyDecisionWhoseCheckFailsThrowsTheStoresError() async throws {
        let store = VersionFailingStore()
        let mine = Dispatcher(store: store)
        let accounts = mine.aggregate(BankAccount.self)
        _ = try await accounts.send(.open(100), to: "a")
        store.failsVersionReads.withLock { $0 = true }
        await #expect {
            _ = try await accounts.send(.touch, to: "a")
        } throws: { error in
            (error as? EventStoreError)?.code == .unavailable
        }
        await mine.shutdown()
    }
}

/// An in-memory store whose stream version reads fail with `unavailable` while told to, as a server that went away.
private final class VersionFailingStore: DelegatingEventStore {
    let inner = InMemoryEventStore()
    let failsVersionReads = Mutex(false)

    func streamVersion(of streamID: StreamID) async throws -> UInt64 {
        if failsVersionReads.withLock({ $0 }) {
            throw EventStoreError(.unavailable, message: "the server went away")
        }
        return try await inner.streamVersion(of: streamID)
    }
}
