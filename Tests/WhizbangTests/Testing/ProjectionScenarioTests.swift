import Synchronization
import Testing
import Whizbang
import WhizbangTesting

/// Account balances, idempotent: an event at or below the stream version already applied is skipped.
final class BalancesProjection: Projection {
    private struct Model {
        var balances: [StreamID: Int] = [:]
        var versions: [StreamID: UInt64] = [:]
    }

    let name = "balances"
    private let model = Mutex(Model())

    func apply(_ events: [RecordedEvent]) async throws {
        for event in events {
            guard let accountEvent = try event.decode(as: SavingsAccount.self) else { continue }
            model.withLock { model in
                guard event.streamVersion > model.versions[event.streamID, default: 0] else { return }
                model.versions[event.streamID] = event.streamVersion
                switch accountEvent {
                case .opened: model.balances[event.streamID] = 0
                case .deposited(let deposit): model.balances[event.streamID, default: 0] += deposit.amount
                case .withdrawn(let withdrawal): model.balances[event.streamID, default: 0] -= withdrawal.amount
                case .closed: break
                }
            }
        }
    }

    func reset() async throws { model.withLock { $0 = Model() } }

    func balance(of account: StreamID) -> Int? { model.withLock { $0.balances[account] } }
}

/// Counts deposits without remembering what it applied: not idempotent.
final class DepositCountProjection: Projection {
    let name = "deposit-count"
    let count = Atomic<Int>(0)

    func apply(_ events: [RecordedEvent]) async throws {
        for event in events where event.eventType == "AccountCredited" {
            count.wrappingAdd(1, ordering: .relaxed)
        }
    }

    func reset() async throws { count.store(0, ordering: .relaxed) }
}

@Suite
struct ProjectionScenarioTests {
    @Test func theReadModelMatches() async throws {
        try await ProjectionScenario(BalancesProjection(), batchSize: 2)
            .given(SavingsAccount.self, stream: "a", [.opened(.init()), .deposited(.init(amount: 10, reference: "1"))])
            .given(MoneyTransfer.self, stream: "t", [.requested(.init(source: "a", target: "b", amount: 4))])
            .given(SavingsAccount.self, stream: "a", [.withdrawn(.init(amount: 4, reference: "t"))])
            .then({ $0.balance(of: "a") }, equals: 6)
    }

    @Test func givenEventsGetPositionsVersionsAndMetadata() throws {
        let cause = EnvelopeMetadata(metadata: ["tenant": "acme"])
        let scenario = try ProjectionScenario(BalancesProjection())
            .given(SavingsAccount.self, stream: "a", [.opened(.init())])
            .given(SavingsAccount.self, stream: "b", [.opened(.init())], causedBy: cause)
            .given(SavingsAccount.self, stream: "a", [.deposited(.init(amount: 1, reference: "1"))])
        #expect(scenario.events.map(\.position) == [1, 2, 3])
        #expect(scenario.events.map(\.streamVersion) == [1, 1, 2])
        #expect(scenario.events.map(\.eventType) == ["AccountOpened", "AccountOpened", "AccountCredited"])
        #expect(try scenario.events[1].commandEnvelope() == cause)
        #expect(try scenario.events[0].commandEnvelope()?.streamID == "a")
    }

    @Test func aWrongReadModelFails() async throws {
        let failure = await #expect(throws: ScenarioFailure.self) {
            try await ProjectionScenario(BalancesProjection())
                .given(
                    SavingsAccount.self, stream: "a", [.opened(.init()), .deposited(.init(amount: 10, reference: "1"))])
                .then({ $0.balance(of: "a") }, equals: 11)
        }
        #expect(failure?.code == .unexpectedReadModel)
        #expect(failure?.message.contains("Optional(11), got Optional(10)") == true)
        // An idempotent projection's failure says the log was applied twice too: what it was given is part of it.
        #expect(failure?.message.contains("applied twice") == true)

        await #expect(throws: ScenarioFailure.self) {
            try await ProjectionScenario(BalancesProjection())
                .given(SavingsAccount.self, stream: "a", [.opened(.init())])
                .then { $0.balance(of: "a") == 1 }
        }
    }

    /// Redelivery is on for projections checkpointed in the store, so a projection that is not idempotent fails.
    @Test func aProjectionThatIsNotIdempotentFails() async throws {
        let events: [SavingsAccount.Event] = [.opened(.init()), .deposited(.init(amount: 1, reference: "1"))]
        let failure = await #expect(throws: ScenarioFailure.self) {
            try await ProjectionScenario(DepositCountProjection())
                .given(SavingsAccount.self, stream: "a", events)
                .then { $0.count.load(ordering: .relaxed) == 1 }
        }
        // The failure says that the log was applied twice, and why: before, it read as a plain wrong value.
        #expect(failure?.message.contains("applied twice") == true, "\(failure?.message ?? "")")
        #expect(failure?.message.contains("idempotent") == true, "\(failure?.message ?? "")")
        let valued = await #expect(throws: ScenarioFailure.self) {
            try await ProjectionScenario(DepositCountProjection())
                .given(SavingsAccount.self, stream: "a", events)
                .then({ $0.count.load(ordering: .relaxed) }, equals: 1)
        }
        #expect(valued?.message.contains("got 2") == true, "\(valued?.message ?? "")")
        #expect(valued?.message.contains("applied twice") == true, "\(valued?.message ?? "")")
        var withoutRedelivery = try ProjectionScenario(DepositCountProjection())
            .given(SavingsAccount.self, stream: "a", events)
        withoutRedelivery.redelivers = false
        try await withoutRedelivery.then { $0.count.load(ordering: .relaxed) == 1 }
    }

    /// A projection keeping its own position must report the last event's position after applying.
    @Test func aProjectionKeepingItsPositionIsChecked() async throws {
        try await ProjectionScenario(StreamLogProjection(), batchSize: 1)
            .given(SavingsAccount.self, stream: "a", [.opened(.init()), .deposited(.init(amount: 1, reference: "1"))])
            .then { $0.snapshot.eventsApplied == 2 }
        let failure = await #expect(throws: ScenarioFailure.self) {
            try await ProjectionScenario(ForgetfulProjection())
                .given(SavingsAccount.self, stream: "a", [.opened(.init())])
                .then { _ in true }
        }
        #expect(failure?.code == .unexpectedError)
    }

    @Test func anUnregisteredEventIsReportedWhenGiven() throws {
        #expect(throws: ScenarioFailure.self) {
            _ = try ProjectionScenario(BalancesProjection()).given(Unregistered.self, stream: "x", [.something])
        }
    }
}

private enum Unregistered: Aggregate {
    struct State: Codable, Sendable {}
    enum Command: Sendable { case noop }
    enum Event: Sendable { case something }
    static let initialState = State()
    static let events = EventRegistry<Event>()
    static func evolve(_ state: State, _ event: Event) -> State { state }
    static func decide(_ command: Command, _ state: State) throws -> [Event] { [] }
}

/// Records each batch's event types; names the types it applies.
final class TypedBatchesProjection: Projection {
    let name = "typed-batches"
    let eventTypes: Set<String>? = ["AccountCredited"]
    let batches = Mutex<[[String]]>([])

    func apply(_ events: [RecordedEvent]) async throws {
        batches.withLock { $0.append(events.map(\.eventType)) }
    }

    func reset() async throws { batches.withLock { $0 = [] } }
}

@Suite
struct ProjectionScenarioEventTypesTests {
    /// As a runner does: only the named types, and no batch without any of them.
    @Test func onlyTheProjectionsEventTypesAreApplied() async throws {
        let projection = TypedBatchesProjection()
        var scenario = try ProjectionScenario(projection, batchSize: 2)
            .given(SavingsAccount.self, stream: "a", [.opened(.init()), .deposited(.init(amount: 10, reference: "1"))])
            .given(SavingsAccount.self, stream: "b", [.opened(.init()), .withdrawn(.init(amount: 1, reference: "2"))])
            .given(SavingsAccount.self, stream: "a", [.deposited(.init(amount: 5, reference: "3"))])
        scenario.redelivers = false
        try await scenario.then({ $0.batches.withLock { $0 } }, equals: [["AccountCredited"], ["AccountCredited"]])
    }
}
