import Synchronization
package import Whizbang

/// A store, a dispatcher and a handle for `Account` (or `JSONAccount`), with `accounts` accounts opened once.
package final class RuntimeFixture<A: Aggregate>: Sendable where A.Command == Account.Command {
    package let store = InMemoryEventStore()
    package let dispatcher: Dispatcher<InMemoryEventStore>
    package let accounts: AggregateHandler<A, InMemoryEventStore>
    package let streams: [StreamID]
    private let opened = Mutex(false)

    package init(accounts count: Int) {
        dispatcher = Dispatcher(store: store)
        accounts = dispatcher.aggregate(A.self)
        streams = (0..<count).map { StreamID("account-\($0)") }
    }

    /// Opens every account, the first time it is called.
    package func prepare() async throws {
        let first = opened.withLock { opened in
            defer { opened = true }
            return !opened
        }
        guard first else { return }
        for stream in streams {
            _ = try await accounts.send(.open(1_000), to: stream)
        }
    }
}
