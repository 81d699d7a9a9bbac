import Synchronization
import Testing
import Whizbang
import WhizbangTesting

/// The process-manager kit: history, new events, then the commands sent, checked again under redelivery.
///
/// `aTransferSendsItsFourCommandsInOrder` and `derivedCommandIDsCanBeExpected` are the code of the article "Testing
/// process managers" (`Sources/WhizbangTesting/Docs.docc/TestingProcessManagers.md`), and
/// `ProjectionRunnerSettlingTests` runs its last example. Keep them in step: change one, change the other.
@Suite(.timeLimit(.minutes(5)))
struct ProcessManagerScenarioTests {
    static func transferScenario() -> ProcessManagerScenario<TransferProcess> {
        ProcessManagerScenario { dispatcher in
            TransferProcess(
                accounts: dispatcher.aggregate(SavingsAccount.self), transfers: dispatcher.aggregate(MoneyTransfer.self))
        }
    }

    static func openAccounts(in scenario: ProcessManagerScenario<TransferProcess>) async throws {
        try await scenario.given(
            SavingsAccount.self, stream: "account-a",
            [.opened(.init()), .deposited(.init(amount: 100, reference: "seed"))])
        try await scenario.given(SavingsAccount.self, stream: "account-b", [.opened(.init())])
    }

    @Test func aTransferSendsItsFourCommandsInOrder() async throws {
        let scenario = Self.transferScenario()
        try await Self.openAccounts(in: scenario)
        let requested = try await scenario.when(
            MoneyTransfer.self, stream: "transfer-1",
            [.requested(.init(source: "account-a", target: "account-b", amount: 30))])

        try await scenario.then(commands: [
            ExpectedCommand(
                SavingsAccount.self, to: "account-a", causedBy: requested[0].eventID,
                recording: [.withdrawn(.init(amount: 30, reference: "transfer-1:debit"))]),
            ExpectedCommand(
                MoneyTransfer.self, to: "transfer-1", causedBy: requested[0].eventID, recording: [.debited(.init())]),
            ExpectedCommand(
                SavingsAccount.self, to: "account-b",
                recording: [.deposited(.init(amount: 30, reference: "transfer-1:credit"))]),
            ExpectedCommand(MoneyTransfer.self, to: "transfer-1", recording: [.credited(.init())]),
        ])
    }

    @Test func theHistoryIsNotHandledAgain() async throws {
        let scenario = Self.transferScenario()
        try await Self.openAccounts(in: scenario)
        // Requested in the history: the process manager has already handled it, so nothing is sent now.
        try await scenario.given(
            MoneyTransfer.self, stream: "transfer-1",
            [.requested(.init(source: "account-a", target: "account-b", amount: 30))])
        #expect(try await scenario.sentCommands().isEmpty)
    }

    @Test func otherCommandsThanExpectedFailWithBothLists() async throws {
        let scenario = Self.transferScenario()
        try await Self.openAccounts(in: scenario)
        try await scenario.when(
            MoneyTransfer.self, stream: "transfer-1",
            [.requested(.init(source: "account-a", target: "account-b", amount: 500))])
        let failure = await #expect(throws: ScenarioFailure.self) {
            try await scenario.then(commands: [
                ExpectedCommand(
                    SavingsAccount.self, to: "account-a",
                    recording: [.withdrawn(.init(amount: 500, reference: "transfer-1:debit"))])
            ])
        }
        #expect(failure?.code == .unexpectedCommands)
        #expect(failure?.message.contains("it sent 1") == true)
    }

    @Test func derivedCommandIDsCanBeExpected() async throws {
        let scenario = ProcessManagerScenario { dispatcher in
            Welcome(accounts: dispatcher.aggregate(SavingsAccount.self))
        }
        let opened = try await scenario.when(SavingsAccount.self, stream: "account-a", [.opened(.init())])
        try await scenario.then(commands: [
            ExpectedCommand(
                SavingsAccount.self, to: "account-a", id: MessageID(derivedFrom: opened[0].eventID, step: "bonus"),
                causedBy: opened[0].eventID, recording: [.deposited(.init(amount: 5, reference: "welcome"))])
        ])
    }

    @Test func aCommandThatRecordsAgainOnRedeliveryFails() async throws {
        let scenario = ProcessManagerScenario { dispatcher in
            Welcome(accounts: dispatcher.aggregate(SavingsAccount.self), idempotent: false)
        }
        try await scenario.when(SavingsAccount.self, stream: "account-a", [.opened(.init())])
        let failure = await #expect(throws: ScenarioFailure.self) { _ = try await scenario.sentCommands() }
        #expect(failure?.code == .repeatedCommands)
    }

    /// A process manager that keeps its own checkpoint was never delivered the events again: the scenario moved the
    /// store's checkpoint, which such a runner does not read, so a repeated command passed unseen.
    @Test func aCommandThatRecordsAgainOnRedeliveryFailsWhenTheProcessManagerKeepsItsCheckpoint() async throws {
        let scenario = ProcessManagerScenario { dispatcher in
            WelcomeKeepingItsPosition(
                welcome: Welcome(accounts: dispatcher.aggregate(SavingsAccount.self), idempotent: false))
        }
        try await scenario.when(SavingsAccount.self, stream: "account-a", [.opened(.init())])
        let failure = await #expect(throws: ScenarioFailure.self) { _ = try await scenario.sentCommands() }
        #expect(failure?.code == .repeatedCommands)
        // And an idempotent one passes.
        let idempotent = ProcessManagerScenario { dispatcher in
            WelcomeKeepingItsPosition(welcome: Welcome(accounts: dispatcher.aggregate(SavingsAccount.self)))
        }
        try await idempotent.when(SavingsAccount.self, stream: "account-a", [.opened(.init())])
        #expect(try await idempotent.sentCommands().count == 1)
    }

    @Test func aProcessManagerThatThrowsFailsTheScenarioWithoutHanging() async throws {
        let scenario = Self.transferScenario()
        try await Self.openAccounts(in: scenario)
        scenario.processManager.faults.arm(.afterDebit)
        try await scenario.when(
            MoneyTransfer.self, stream: "transfer-1",
            [.requested(.init(source: "account-a", target: "account-b", amount: 30))])
        let failure = await #expect(throws: ScenarioFailure.self) { _ = try await scenario.sentCommands() }
        #expect(failure?.code == .unexpectedError)
        // The process manager's own error, not the runner's stop that the wait may learn of first.
        #expect(failure?.message.contains("Injected") == true, "\(String(describing: failure))")
    }
}

/// ``Welcome``, keeping its position itself (`ProjectionCheckpointStorage/projection`).
struct WelcomeKeepingItsPosition: ProcessManager {
    final class Position: Sendable {
        let value = Mutex<UInt64>(0)
    }
    let welcome: Welcome
    let stored = Position()
    var name: String { welcome.name }
    var checkpointStorage: ProjectionCheckpointStorage { .projection }

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws {
        try await welcome.handle(event, cause: cause)
        stored.value.withLock { $0 = max($0, event.position) }
    }

    func position() async throws -> UInt64 { stored.value.withLock { $0 } }
}

/// Deposits a bonus into each account opened, under an id derived from the event; with `idempotent: false` each
/// delivery deposits under a new reference, so a redelivery records a second deposit.
struct Welcome: ProcessManager {
    let name = "welcome"
    let accounts: AggregateHandler<SavingsAccount, InMemoryEventStore>
    var idempotent = true

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws {
        guard case .opened? = try event.decode(as: SavingsAccount.self) else { return }
        let reference = idempotent ? "welcome" : "welcome-\(MessageID())"
        _ = try await accounts.send(
            MessageEnvelope(
                message: .deposit(amount: 5, reference: reference), causedBy: cause,
                messageID: MessageID(derivedFrom: cause.messageID, step: "bonus"), streamID: event.streamID))
    }
}
