import Synchronization
import Testing
import Whizbang

/// The code of the article "Catch-up from a checkpoint" (`Sources/Whizbang/Docs.docc/CatchUpFromACheckpoint.md`),
/// compiled and run. Keep the two in step: change one, change the other.
@Suite(.timeLimit(.minutes(5)))
struct CatchUpFromACheckpointArticleTests {
    typealias Account = BankAccount

    /// The sum of every account's balance, kept idempotent by remembering the last position applied.
    final class Balances: Projection {
        let name = "balances"
        private let state = Mutex((position: UInt64(0), total: 0))

        var total: Int { state.withLock { $0.total } }

        func apply(_ events: [RecordedEvent]) async throws {
            for event in events {
                guard let decoded = try event.decode(as: Account.self) else { continue }
                state.withLock { state in
                    guard event.position > state.position else { return }
                    state.position = event.position
                    switch decoded {
                    case .opened(let opened): state.total += opened.initialDeposit
                    case .deposited(let deposited): state.total += deposited.amount
                    case .withdrawn(let withdrawn): state.total -= withdrawn.amount
                    }
                }
            }
        }

        func reset() async throws { state.withLock { $0 = (0, 0) } }
    }

    @Test func aRunnerResumesAfterItsCheckpoint() async throws {
        let store = InMemoryEventStore()
        let accounts = Dispatcher(store: store).aggregate(Account.self)
        _ = try await accounts.send(.open(10), to: "account-1")
        _ = try await accounts.send(.open(5), to: "account-2")
        let balances = Balances()

        let runner = ProjectionRunner(projection: balances, store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }  // resumes after the saved checkpoint
            try await runner.waitUntilCaughtUp()  // every event stored so far is applied
            print(balances.total)
            group.cancelAll()  // in a service, graceful shutdown stops it instead
        }
        #expect(balances.total == 15)
        #expect(try await store.checkpoint(for: "balances") == 2)

        // Read your own writes, with a new runner that resumes after the checkpoint.
        let resumed = ProjectionRunner(projection: balances, store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await resumed.run() }
            let result = try await accounts.send(.deposit(10), to: "account-1")
            try await resumed.waitUntilApplied(through: result.positions.upperBound - 1)
            #expect(balances.total == 25)
            group.cancelAll()
        }
    }

    @Test func aConsumerKeepsItsOwnCheckpoint() async throws {
        let store = InMemoryEventStore()
        let accounts = Dispatcher(store: store).aggregate(Account.self)
        _ = try await accounts.send(.open(10), to: "account-1")
        _ = try await accounts.send(.deposit(1), to: "account-1")

        let exported = try await exportUntilCaughtUp(store)
        #expect(exported == [1, 2])
        #expect(try await store.checkpoint(for: "exporter") == 2)

        _ = try await accounts.send(.deposit(2), to: "account-1")
        #expect(try await exportUntilCaughtUp(store) == [3])
    }

    /// Runs the article's export loop until it has exported the head, then cancels it; returns the positions
    /// exported.
    private func exportUntilCaughtUp(_ store: InMemoryEventStore) async throws -> [UInt64] {
        let head = try await store.headPosition()
        let (reachedHead, reached) = AsyncStream.makeStream(of: Void.self)
        return try await withThrowingTaskGroup(of: [UInt64].self) { group in
            group.addTask {
                var exported: [UInt64] = []
                func export(_ event: RecordedEvent) async throws {
                    exported.append(event.position)
                    if event.position == head { reached.yield() }
                }
                let start = try await store.checkpoint(for: "exporter") ?? 0
                for try await event in store.subscribe(after: start) {
                    try await export(event)
                    try await store.saveCheckpoint(event.position, for: "exporter")
                }
                return exported
            }
            var waiting = reachedHead.makeAsyncIterator()
            await waiting.next()
            group.cancelAll()
            return try await group.next() ?? []
        }
    }
}
