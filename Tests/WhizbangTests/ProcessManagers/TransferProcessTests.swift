import Testing
import Whizbang

/// Accounts, transfers and the process manager between them, over one in-memory store.
struct TransferFixture {
    let store = InMemoryEventStore()
    let dispatcher: Dispatcher<InMemoryEventStore>
    let accounts: AggregateHandler<SavingsAccount, InMemoryEventStore>
    let transfers: AggregateHandler<MoneyTransfer, InMemoryEventStore>
    let process: TransferProcess

    init() {
        dispatcher = Dispatcher(store: store)
        accounts = dispatcher.aggregate(SavingsAccount.self)
        transfers = dispatcher.aggregate(MoneyTransfer.self)
        process = TransferProcess(accounts: accounts, transfers: transfers)
    }

    func open(_ account: StreamID, balance: Int) async throws {
        _ = try await accounts.send(.open, to: account)
        if balance > 0 { _ = try await accounts.send(.deposit(amount: balance, reference: "seed"), to: account) }
    }

    @discardableResult
    func requestTransfer(_ id: StreamID, from source: StreamID, to target: StreamID, amount: Int) async throws
        -> CommandResult<MoneyTransfer>
    {
        try await transfers.send(
            .request(from: source, to: target, amount: amount), to: id, metadata: ["tenant": "acme"])
    }

    func balance(_ account: StreamID) async throws -> Int {
        try await accounts.load(account).state.balance
    }

    func status(_ transfer: StreamID) async throws -> MoneyTransfer.Status {
        try await transfers.load(transfer).state.status
    }

    /// Runs the process manager with a new runner until it has handled every event, including those its own
    /// commands recorded.
    func runProcessUntilQuiet() async throws {
        let runner = ProjectionRunner(projection: process, store: store)
        try await whileRunning(runner) { try await runner.waitUntilCaughtUp() }
    }

    func events(in stream: StreamID) async throws -> [RecordedEvent] {
        try await store.readStream(stream, from: 1, direction: .forwards, limit: 1_000)
    }

    func accountEvents(in stream: StreamID) async throws -> [SavingsAccount.Event] {
        try await events(in: stream).compactMap { try $0.decode(as: SavingsAccount.self) }
    }
}

@Suite(.timeLimit(.minutes(5)))
struct TransferProcessTests {
    @Test func aTransferDebitsOneAccountAndCreditsTheOther() async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        try await bank.open("account-b", balance: 0)
        try await bank.requestTransfer("transfer-1", from: "account-a", to: "account-b", amount: 30)

        try await bank.runProcessUntilQuiet()

        #expect(try await bank.balance("account-a") == 70)
        #expect(try await bank.balance("account-b") == 30)
        #expect(try await bank.status("transfer-1") == .credited)
    }

    @Test(arguments: ["missing", "closed"])
    func aRejectedCreditIsCompensatedByARefund(target: String) async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        if target == "closed" {
            try await bank.open("account-closed", balance: 0)
            _ = try await bank.accounts.send(.close, to: "account-closed")
        }
        try await bank.requestTransfer("transfer-1", from: "account-a", to: StreamID("account-\(target)"), amount: 40)

        try await bank.runProcessUntilQuiet()

        #expect(try await bank.status("transfer-1") == .compensated)
        #expect(try await bank.transfers.load("transfer-1").state.reason == (target == "closed" ? "closed" : "notOpen"))
        #expect(try await bank.balance("account-a") == 100)
        #expect(try await bank.balance(StreamID("account-\(target)")) == 0)
        #expect(
            try await bank.accountEvents(in: "account-a").suffix(2) == [
                .withdrawn(.init(amount: 40, reference: "transfer-1:debit")),
                .deposited(.init(amount: 40, reference: "transfer-1:refund")),
            ])
    }

    @Test func aRejectedDebitFailsTheTransferAndMovesNothing() async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 10)
        try await bank.open("account-b", balance: 0)
        try await bank.requestTransfer("transfer-1", from: "account-a", to: "account-b", amount: 30)

        try await bank.runProcessUntilQuiet()

        #expect(try await bank.status("transfer-1") == .failed)
        #expect(try await bank.transfers.load("transfer-1").state.reason == "insufficientFunds")
        #expect(try await bank.balance("account-a") == 10)
        #expect(try await bank.balance("account-b") == 0)
    }

    /// Every event delivered again — as after a crash that lost the process manager's checkpoint — sends its
    /// commands again, and none of them records anything.
    @Test func redeliveredEventsRepeatNoStep() async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        try await bank.open("account-b", balance: 0)
        try await bank.requestTransfer("transfer-1", from: "account-a", to: "account-b", amount: 30)
        try await bank.requestTransfer("transfer-2", from: "account-a", to: "account-missing", amount: 20)
        try await bank.requestTransfer("transfer-3", from: "account-b", to: "account-a", amount: 500)
        try await bank.runProcessUntilQuiet()
        let head = try await bank.store.headPosition()

        try await bank.store.saveCheckpoint(0, for: bank.process.name)
        try await bank.runProcessUntilQuiet()

        #expect(try await bank.store.headPosition() == head)
        #expect(try await bank.balance("account-a") == 70)
        #expect(try await bank.balance("account-b") == 30)
        #expect(try await bank.status("transfer-1") == .credited)
        #expect(try await bank.status("transfer-2") == .compensated)
        #expect(try await bank.status("transfer-3") == .failed)
    }

    /// The process dies between two commands of a step (the account changed, the transfer's record of the step
    /// not yet written); restarted, it completes the transfer and the account records the step once.
    @Test(arguments: [FaultInjector.Point.afterDebit, .afterCredit, .afterRefund])
    func aProcessThatDiesMidStepCompletesWithoutRepeatingIt(point: FaultInjector.Point) async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        try await bank.open("account-b", balance: 0)
        let target: StreamID = point == .afterRefund ? "account-missing" : "account-b"
        try await bank.requestTransfer("transfer-1", from: "account-a", to: target, amount: 25)

        bank.process.faults.arm(point)
        let dying = ProjectionRunner(projection: bank.process, store: bank.store)
        await #expect(throws: FaultInjector.Injected(point: point)) { try await dying.run() }
        try await bank.runProcessUntilQuiet()

        let sourceEvents = try await bank.accountEvents(in: "account-a")
        #expect(sourceEvents.filter { if case .withdrawn = $0 { true } else { false } }.count == 1)
        if point == .afterRefund {
            #expect(try await bank.status("transfer-1") == .compensated)
            #expect(try await bank.balance("account-a") == 100)
            #expect(sourceEvents.filter { if case .deposited = $0 { true } else { false } }.count == 2)
        } else {
            #expect(try await bank.status("transfer-1") == .credited)
            #expect(try await bank.balance("account-a") == 75)
            #expect(try await bank.balance("account-b") == 25)
            #expect(try await bank.accountEvents(in: "account-b").count == 2)
        }
        let transferEvents = try await bank.events(in: "transfer-1").map(\.eventType)
        #expect(transferEvents.count == 3)
    }

    /// Many transfers in both directions, some rejected at the debit and some at the credit: the total balance does
    /// not change.
    @Test func moneyIsConserved() async throws {
        let bank = TransferFixture()
        let accounts: [StreamID] = ["account-a", "account-b", "account-c"]
        for account in accounts { try await bank.open(account, balance: 50) }
        _ = try await bank.accounts.send(.close, to: "account-c")
        for index in 0..<30 {
            let source = accounts[index % 2]
            let target = accounts[(index * 7 + 1) % 3]
            try await bank.requestTransfer(
                StreamID("transfer-\(index)"), from: source, to: target, amount: 5 + (index * 13) % 40)
        }

        try await bank.runProcessUntilQuiet()

        var total = 0
        for account in accounts { total += try await bank.balance(account) }
        #expect(total == 150)
        #expect(try await bank.balance("account-c") == 50)
        for index in 0..<30 {
            let status = try await bank.status(StreamID("transfer-\(index)"))
            #expect([.credited, .compensated, .failed].contains(status))
        }
    }

    /// Each command the process manager sends is caused by the event it reacts to, and the whole chain shares the
    /// correlation id and metadata of the request.
    @Test func causationAndCorrelationFollowTheChain() async throws {
        let bank = TransferFixture()
        try await bank.open("account-a", balance: 100)
        try await bank.open("account-b", balance: 0)
        let request = try await bank.requestTransfer("transfer-1", from: "account-a", to: "account-b", amount: 30)
        try await bank.runProcessUntilQuiet()

        let transferEvents = try await bank.events(in: "transfer-1")
        #expect(transferEvents.map(\.eventType) == ["TransferRequested", "TransferDebited", "TransferCredited"])
        let requested = transferEvents[0]
        let debited = transferEvents[1]
        let debit = try #require(try await bank.events(in: "account-a").last)
        let credit = try #require(try await bank.events(in: "account-b").last)
        #expect(debit.eventType == "AccountDebited")
        #expect(credit.eventType == "AccountCredited")

        let requestEnvelope = try #require(try requested.commandEnvelope())
        #expect(requestEnvelope.messageID == request.envelope.messageID)
        #expect(requestEnvelope.causationID == nil)
        // What caused each event's command.
        let causes: [(RecordedEvent, RecordedEvent)] = [
            (debit, requested), (debited, requested), (credit, debited), (transferEvents[2], debited),
        ]
        for (event, cause) in causes {
            let command = try #require(try event.commandEnvelope())
            #expect(command.causationID == cause.eventID, "\(event.eventType) is caused by \(cause.eventType)")
            #expect(command.correlationID == request.envelope.messageID)
            #expect(command.metadata["tenant"] == "acme")
        }
        let requestedEnvelope = try requested.eventEnvelope()
        #expect(requestedEnvelope.messageID == requested.eventID)
        #expect(requestedEnvelope.causationID == request.envelope.messageID)
        #expect(requestedEnvelope.correlationID == request.envelope.messageID)
    }
}
