import Testing
import Whizbang

/// Commands dispatched concurrently must end exactly as the same sequence run one at a time: per aggregate, the
/// dispatcher applies commands in the order they were sent.
@Suite(.timeLimit(.minutes(5)))
struct OrderedDispatchTests {
    struct Step: Sendable {
        let account: Int
        let command: BankAccount.Command
    }

    /// A fixed pseudo-random sequence in which many withdrawals exceed the balance left by earlier commands.
    static func sequence(commands: Int, accounts: Int) -> [Step] {
        var generator = SplitMix64(seed: 7)
        return (0..<commands).map { _ in
            let account = Int(generator.next() % UInt64(accounts))
            let amount = Int(1 + generator.next() % 100)
            return Step(account: account, command: generator.next() % 2 == 0 ? .deposit(amount) : .withdraw(amount))
        }
    }

    struct Outcome: Equatable {
        var accepted = 0
        var rejected = 0
        var balances: [Int]
    }

    /// The reference: every command applied in order, with no dispatcher at all.
    static func reference(_ steps: [Step], accounts: Int, initial: Int) -> Outcome {
        var states = [BankAccount.State](
            repeating: BankAccount.evolve(BankAccount.initialState, .opened(.init(initialDeposit: initial))),
            count: accounts)
        var outcome = Outcome(balances: [])
        for step in steps {
            if let events = try? BankAccount.decide(step.command, states[step.account]) {
                states[step.account] = BankAccount.evolve(states[step.account], events)
                outcome.accepted += 1
            } else {
                outcome.rejected += 1
            }
        }
        outcome.balances = states.map(\.balance)
        return outcome
    }

    @Test func oneHundredThousandCommandsWith64InFlightMatchTheSequentialRun() async throws {
        let accountCount = 1_000
        let steps = Self.sequence(commands: 100_000, accounts: accountCount)
        let store = InMemoryEventStore()
        let accounts = Dispatcher(store: store).aggregate(BankAccount.self)
        for account in 0..<accountCount { _ = try await accounts.send(.open(50), to: StreamID("account-\(account)")) }

        let counts = try await OrderedSubmitter.run(steps, maximumInFlight: 64) { step in
            do {
                _ = try await accounts.send(step.command, to: StreamID("account-\(step.account)"))
                return true
            } catch is BankAccount.Rejected {
                return false
            }
        } key: { $0.account }

        var outcome = Outcome(accepted: counts.accepted, rejected: counts.rejected, balances: [])
        for account in 0..<accountCount {
            outcome.balances.append(try await accounts.load(StreamID("account-\(account)")).state.balance)
        }
        let expected = Self.reference(steps, accounts: accountCount, initial: 50)
        #expect(expected.rejected > 5_000, "the sequence must exercise rejections")
        #expect(outcome == expected)
        #expect(try await store.headPosition() == UInt64(accountCount + expected.accepted))
    }
}

/// Keeps up to `maximumInFlight` operations running while operations with the same key start in sequence order:
/// each one first waits for its predecessor with the same key.
enum OrderedSubmitter {
    static func run<Step: Sendable>(
        _ steps: [Step],
        maximumInFlight: Int,
        operation: @escaping @Sendable (Step) async throws -> Bool,
        key: (Step) -> Int
    ) async throws -> (accepted: Int, rejected: Int) {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            var previous: [Int: TestGate] = [:]
            var inFlight = 0
            var accepted = 0
            var rejected = 0
            func collect(_ result: Bool) {
                inFlight -= 1
                if result { accepted += 1 } else { rejected += 1 }
            }
            for step in steps {
                if inFlight == maximumInFlight, let result = try await group.next() { collect(result) }
                let predecessor = previous[key(step)]
                let done = TestGate()
                previous[key(step)] = done
                inFlight += 1
                group.addTask {
                    await predecessor?.wait()
                    defer { done.open() }
                    return try await operation(step)
                }
            }
            for try await result in group { collect(result) }
            return (accepted, rejected)
        }
    }
}

/// A small deterministic generator for test sequences.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
