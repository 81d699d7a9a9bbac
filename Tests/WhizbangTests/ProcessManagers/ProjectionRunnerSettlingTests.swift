import Testing
import Whizbang

/// `settled(upTo:)` and `waitUntilCaughtUp()` wait for a condition — the runner has applied the log, including what
/// its own commands appended — never for time.
@Suite(.timeLimit(.minutes(5)))
struct ProjectionRunnerSettlingTests {
    /// A transfer is three events long: the request, then the debit and the credit the process manager's own
    /// commands record. Waiting for the request's position alone would return after the first step.
    @Test func waitingUntilCaughtUpFollowsTheEventsTheProcessManagerCauses() async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        try await bank.open("account-b", balance: 0)
        let runner = ProjectionRunner(projection: bank.process, store: bank.store)
        try await whileRunning(runner) {
            try await bank.requestTransfer("transfer-1", from: "account-a", to: "account-b", amount: 30)
            try await runner.waitUntilCaughtUp()
            #expect(try await bank.status("transfer-1") == .credited)
            #expect(try await bank.balance("account-b") == 30)
            #expect(runner.appliedPosition == (try await bank.store.headPosition()))
        }
    }

    @Test func settledUpToAPositionIncludesWhatItCaused() async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        try await bank.open("account-b", balance: 0)
        let runner = ProjectionRunner(projection: bank.process, store: bank.store)
        try await whileRunning(runner) {
            let request = try await bank.requestTransfer("transfer-1", from: "account-a", to: "account-b", amount: 5)
            try await runner.settled(upTo: request.positions.upperBound - 1)
            #expect(try await bank.status("transfer-1") == .credited)
            #expect(try await bank.events(in: "transfer-1").count == 3)
        }
    }
}
