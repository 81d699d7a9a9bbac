import Testing
import Whizbang
import WhizbangTesting

/// Balances per account as a read model: a row per open account, deleted when it closes.
struct AccountBalances: ReadModelProjection {
    struct Row: Codable, Sendable, Equatable { var balance: Int }
    let name = "account-balances"
    var mode: ReadModelMode = .inline

    func keys(of event: RecordedEvent) throws -> [String] {
        try event.decode(as: SavingsAccount.self) == nil ? [] : [event.streamID.rawValue]
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        switch try event.decode(as: SavingsAccount.self) {
        case .opened?: Row(balance: 0)
        case .deposited(let deposit)?: Row(balance: (row?.balance ?? 0) + deposit.amount)
        case .withdrawn(let withdrawal)?: Row(balance: (row?.balance ?? 0) - withdrawal.amount)
        case .closed?, nil: nil
        }
    }

    func indexValue(of row: Row) -> String? { row.balance >= 10 ? "rich" : "poor" }
}

/// ``AccountBalances`` with a version of the test's choosing.
struct VersionedBalances: ReadModelProjection {
    typealias Row = AccountBalances.Row
    let name = "versioned-balances"
    let version: Int

    func keys(of event: RecordedEvent) throws -> [String] { try AccountBalances().keys(of: event) }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        try AccountBalances().apply(event, to: row, key: key)
    }
}

@Suite
struct ReadModelScenarioTests {
    @Test(arguments: [ReadModelMode.inline, .async])
    func rowsAreTheFoldOfTheLog(_ mode: ReadModelMode) throws {
        let scenario = try ReadModelScenario(AccountBalances(mode: mode))
            .given(SavingsAccount.self, stream: "a", [.opened(.init()), .deposited(.init(amount: 10, reference: "1"))])
            .given(SavingsAccount.self, stream: "b", [.opened(.init()), .deposited(.init(amount: 3, reference: "2"))])
            .given(SavingsAccount.self, stream: "c", [.opened(.init()), .closed(.init())])
            .given(SavingsAccount.self, stream: "a", [.withdrawn(.init(amount: 4, reference: "t"))])
        try scenario.then(key: "a", equals: AccountBalances.Row(balance: 6))
        try scenario.then(key: "c", equals: nil)
        try scenario.then(.indexed("poor"), keys: ["a", "b"])
        try scenario.then { rows in rows.map(\.position) == [7, 4] }
    }

    @Test func aWrongRowFails() throws {
        let scenario = try ReadModelScenario(AccountBalances())
            .given(SavingsAccount.self, stream: "a", [.opened(.init())])
        #expect(throws: ScenarioFailure.self) { try scenario.then(key: "a", equals: AccountBalances.Row(balance: 1)) }
        #expect(throws: ScenarioFailure.self) { try scenario.then(ReadModelQuery(), keys: []) }
    }

    /// The scenario's fold gives what a store serves after the same events.
    @Test func theScenarioAgreesWithAStore() async throws {
        let scenario = try ReadModelScenario(AccountBalances())
            .given(SavingsAccount.self, stream: "a", [.opened(.init()), .deposited(.init(amount: 12, reference: "1"))])
            .given(SavingsAccount.self, stream: "b", [.opened(.init())])
        var configuration = InMemoryEventStore.Configuration()
        configuration.readModels = [AccountBalances()]
        let store = InMemoryEventStore(configuration: configuration)
        for event in scenario.events {
            _ = try await store.append(
                [EventData(eventType: event.eventType, data: event.data, metadata: event.metadata)],
                to: event.streamID, expectedVersion: .any)
        }
        let stored = try await ReadModel(AccountBalances(), in: store).rows()
        #expect(stored.map(\.key) == (try scenario.rows()).map(\.key))
        #expect(stored.map(\.value) == (try scenario.rows()).map(\.value))
    }

    /// A version no store accepts fails the scenario, as it fails every store's opening; the range's ends pass.
    @Test func aVersionNoStoreAcceptsFails() throws {
        for version in [Int(Int32.max), Int(Int32.min) - 1, Int.max] {
            let scenario = try ReadModelScenario(VersionedBalances(version: version))
                .given(SavingsAccount.self, stream: "a", [.opened(.init())])
            let failure = #expect(throws: ScenarioFailure.self) { try scenario.rows() }
            #expect(failure?.code == .unexpectedError)
            #expect(failure?.message.contains("version \(version)") == true, "\(String(describing: failure))")
        }
        for version in [VersionedBalances.versionRange.lowerBound, VersionedBalances.versionRange.upperBound] {
            let scenario = try ReadModelScenario(VersionedBalances(version: version))
                .given(SavingsAccount.self, stream: "a", [.opened(.init())])
            try scenario.then(key: "a", equals: AccountBalances.Row(balance: 0))
        }
    }
}
