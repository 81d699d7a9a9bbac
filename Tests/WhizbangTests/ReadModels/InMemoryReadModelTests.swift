import Foundation
import Synchronization
import Testing
import Whizbang

/// Balances per account, whose fold throws on the account "flaky" while `refusing` is on.
private struct FlakyBalances: ReadModelProjection {
    struct Row: Codable, Sendable, Hashable { var balance: Int }
    struct Posting: Codable { var account: String; var amount: Int }
    struct Refused: Error {}

    let name = "balances"
    let mode: ReadModelMode
    let refusing: Refusing

    func keys(of event: RecordedEvent) throws -> [String] {
        [try JSONDecoder().decode(Posting.self, from: event.data).account]
    }

    func apply(_ event: RecordedEvent, to row: Row?, key: String) throws -> Row? {
        if key == "flaky", refusing.isOn { throw Refused() }
        let posting = try JSONDecoder().decode(Posting.self, from: event.data)
        return Row(balance: (row?.balance ?? 0) + posting.amount)
    }

    static func posting(_ account: String, _ amount: Int) -> EventData {
        EventData(
            eventType: "Posted", data: try! JSONEncoder().encode(Posting(account: account, amount: amount)),
            metadata: Data())
    }
}

/// A switch the test turns on and off.
private final class Refusing: Sendable {
    private let state = Atomic<Bool>(false)

    var isOn: Bool {
        get { state.load(ordering: .sequentiallyConsistent) }
        set { state.store(newValue, ordering: .sequentiallyConsistent) }
    }
}

@Suite("InMemoryEventStore read models", .timeLimit(.minutes(1)))
struct InMemoryReadModelTests {
    /// A rebuild whose projection threw stopped the whole read model: its rows served were no longer folded inline,
    /// nor caught up after async appends. As in the SQLite and PostgreSQL stores, only the build stops now. The
    /// inline case is in the read model contract; the store catches async read models up before an append returns,
    /// so here both modes are checked without a wait.
    @Test(arguments: [ReadModelMode.inline, .async])
    func aFailedRebuildLeavesTheServedRowsKeptUp(mode: ReadModelMode) async throws {
        let refusing = Refusing()
        var configuration = InMemoryEventStore.Configuration()
        configuration.readModels = [FlakyBalances(mode: mode, refusing: refusing)]
        let store = try InMemoryEventStore(validating: configuration)
        _ = try await store.append(
            [FlakyBalances.posting("a", 5), FlakyBalances.posting("flaky", 1)], to: "s", expectedVersion: .noStream)
        refusing.isOn = true
        try await store.rebuildReadModel(named: "balances")
        refusing.isOn = false

        _ = try await store.append([FlakyBalances.posting("a", 7)], to: "s", expectedVersion: .any)
        let model = ReadModel(FlakyBalances(mode: mode, refusing: refusing), in: store)
        #expect(try await model.row("a")?.balance == 12)
        let status = try await store.readModelStatus(named: "balances")
        #expect(status.state == .failed && status.failure != nil, "\(status)")
        #expect(status.servedVersion == 1 && status.position == 3 && status.head == 3, "\(status)")
        #expect(status.rebuild?.version == 1, "\(status)")

        // A rebuild that succeeds clears the failure.
        try await store.rebuildReadModel(named: "balances")
        let rebuilt = try await store.waitForReadModel(named: "balances", toReach: nil, timeout: .seconds(10))
        #expect(rebuilt.state == .live && rebuilt.rebuild == nil && rebuilt.failure == nil, "\(rebuilt)")
        #expect(try await model.row("a")?.balance == 12)
    }
}
