import Testing
import Whizbang
import WhizbangTesting

@Suite
struct AggregateScenarioTests {
    typealias Account = SavingsAccount

    @Test func expectedEventsPass() throws {
        let state = try Account.given([.opened(.init())])
            .when(.deposit(amount: 10, reference: "r1"))
            .then([.deposited(.init(amount: 10, reference: "r1"))])
        #expect(state.balance == 10)
    }

    @Test func aRepeatedCommandRecordsNothing() throws {
        try Account.given([.opened(.init()), .deposited(.init(amount: 10, reference: "r1"))])
            .when(.deposit(amount: 10, reference: "r1"))
            .then([])
    }

    @Test func otherEventsThanExpectedFail() throws {
        let failure = #expect(throws: ScenarioFailure.self) {
            try Account.given([.opened(.init())])
                .when(.deposit(amount: 10, reference: "r1"))
                .then([.deposited(.init(amount: 11, reference: "r1"))])
        }
        #expect(failure?.code == .unexpectedEvents)
        #expect(failure?.file == "WhizbangTests/AggregateScenarioTests.swift")
        #expect(failure?.description.contains("amount: 11") == true)
    }

    @Test func aRejectionWhereEventsWereExpectedFails() throws {
        let failure = #expect(throws: ScenarioFailure.self) {
            try Account.given([]).when(.deposit(amount: 10, reference: "r1")).then([])
        }
        #expect(failure?.code == .unexpectedError)
    }

    @Test func expectedErrorsPass() throws {
        try Account.given([.opened(.init())])
            .when(.withdraw(amount: 1, reference: "r1"))
            .thenThrows(Account.Rejection(reason: .insufficientFunds))
        try AggregateScenario<Account>(given: [])
            .when(.withdraw(amount: 1, reference: "r1"))
            .thenThrows { $0 is Account.Rejection }
    }

    @Test func anotherErrorOrNoErrorFails() throws {
        let wrongError = #expect(throws: ScenarioFailure.self) {
            try Account.given([.opened(.init())])
                .when(.withdraw(amount: 1, reference: "r1"))
                .thenThrows(Account.Rejection(reason: .closed))
        }
        #expect(wrongError?.code == .unexpectedError)
        let noError = #expect(throws: ScenarioFailure.self) {
            try Account.given([.opened(.init())])
                .when(.close)
                .thenThrows { _ in true }
        }
        #expect(noError?.code == .missingError)
    }

    @Test func historyAccumulatesAndPredicatesCheckEvents() throws {
        let scenario = Account.given([.opened(.init())]).and([.deposited(.init(amount: 5, reference: "a"))])
        #expect(scenario.state.balance == 5)
        try scenario.when(.withdraw(amount: 5, reference: "b")).then { $0.count == 1 }
        #expect(throws: ScenarioFailure.self) {
            try scenario.when(.withdraw(amount: 5, reference: "b")).then { $0.isEmpty }
        }
    }

    /// An event the aggregate's registry does not know is caught by `then`, before it would fail to be stored.
    @Test func anUnregisteredEventFails() throws {
        let failure = #expect(throws: ScenarioFailure.self) {
            try Forgetful.given([]).when(.record).then([.recorded])
        }
        #expect(failure?.code == .unregisteredEvent)
    }
}

/// An aggregate whose registry lacks its one event.
private enum Forgetful: Aggregate {
    struct State: Codable, Sendable {}
    enum Command: Sendable { case record }
    enum Event: Sendable, Equatable { case recorded }
    static let initialState = State()
    static let events = EventRegistry<Event>()
    static func evolve(_ state: State, _ event: Event) -> State { state }
    static func decide(_ command: Command, _ state: State) throws -> [Event] { [.recorded] }
}
