import Testing
import Whizbang

/// The code of the article "Sending ordered commands without waiting"
/// (`Sources/Whizbang/Docs.docc/SendingOrderedCommands.md`), compiled and run: each way of pipelining applies the
/// deposits in the order they were sent. Keep the two in step: change one, change the other.
@Suite(.timeLimit(.minutes(5)))
struct SendingOrderedCommandsArticleTests {
    typealias Account = BankAccount

    let store = InMemoryEventStore()
    let accounts: AggregateHandler<Account, InMemoryEventStore>
    let amounts = Array(1...200)

    init() {
        accounts = Dispatcher(store: store).aggregate(Account.self)
    }

    func depositsInOrder() async throws -> [Int] {
        try await store.readStream("account-1", from: 2, direction: .forwards, limit: 1_000).compactMap {
            if case .deposited(let deposit)? = try $0.decode(as: Account.self) { deposit.amount } else { nil }
        }
    }

    @Test func immediateTasks() async throws {
        _ = try await accounts.send(.open(0), to: "account-1")
        var sends: [Task<CommandResult<Account>, any Error>] = []
        for amount in amounts {
            sends.append(Task.immediate { try await accounts.send(.deposit(amount), to: "account-1") })
        }
        for send in sends { _ = try await send.value }  // applied in the order they were sent
        #expect(try await depositsInOrder() == amounts)
    }

    @Test func immediateTasksInAGroup() async throws {
        _ = try await accounts.send(.open(0), to: "account-1")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for amount in amounts {
                group.addImmediateTask { _ = try await accounts.send(.deposit(amount), to: "account-1") }
            }
            try await group.waitForAll()
        }
        #expect(try await depositsInOrder() == amounts)
    }

    @Test func aBoundedWindow() async throws {
        _ = try await accounts.send(.open(0), to: "account-1")
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for amount in amounts {
                if inFlight == 64 {
                    _ = try await group.next()
                    inFlight -= 1
                }
                group.addImmediateTask { _ = try await accounts.send(.deposit(amount), to: "account-1") }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        #expect(try await depositsInOrder() == amounts)
    }
}
