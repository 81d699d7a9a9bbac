import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import UnixSignals
import Whizbang
import WhizbangStore
import WhizbangTesting

@testable import ShoppingCartExample

/// The code of the getting-started article (`Sources/Whizbang/Docs.docc/GettingStarted.md`), compiled and run; its
/// `Cart` and `ProductSales` are the ShoppingCartExample's. Keep the two in step: change one, change the other.
@Suite(.timeLimit(.minutes(5)))
struct GettingStartedTests {
    @Test func sendCommandsThenProject() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("getting-started-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("shop.sqlite").path

        // "Send commands" (the article opens "shop.sqlite" in the working directory).
        let store = try await SQLiteEventStore.open(path: path)
        defer { store.close() }
        let dispatcher = Dispatcher(store: store)
        let carts = dispatcher.aggregate(Cart.self)

        let added = try await carts.send(.add(product: "apple", quantity: 3, unitPrice: 40), to: "cart-alice")
        print(added.streamVersion)  // 1
        let checkedOut = try await carts.send(.checkOut, to: "cart-alice")
        print(checkedOut.events)  // [.checkedOut(...)], the events this command recorded

        do {
            _ = try await carts.send(.checkOut, to: "cart-bob")
        } catch let rejection as Cart.Rejection {
            print("rejected: \(rejection)")  // rejected: emptyCart
        }

        #expect(added.streamVersion == 1)
        #expect(checkedOut.events == [.checkedOut(.init(lines: [.init(product: "apple", quantity: 3, unitPrice: 40)]))])
        await #expect(throws: Cart.Rejection.emptyCart) { try await carts.send(.checkOut, to: "cart-bob") }

        var configuration = DispatcherConfiguration()
        configuration.policies = PolicySet(rules: [
            .messageType("Cart.Command", timeout: .seconds(2))
        ])
        let strictDispatcher = Dispatcher(store: store, configuration: configuration)
        let decision = strictDispatcher.configuration.policies.decide(
            for: PolicyContext(messageType: "Cart.Command", streamID: "cart-alice", metadata: [:]))
        #expect(decision.timeout == .seconds(2))

        // "Add a projection".
        let sales = ProductSales()
        let runner = ProjectionRunner(projection: sales, store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            try await runner.waitUntilApplied(through: checkedOut.positions.upperBound - 1)
            print(sales.totals["apple"]!)  // Total(units: 3, revenue: 120)
            group.cancelAll()
        }
        #expect(sales.totals == ["apple": ProductSales.Total(units: 3, revenue: 120)])
        #expect("\(sales.totals["apple"]!)" == "Total(units: 3, revenue: 120)")

        // "Run it as a service", stopped by a graceful shutdown instead of a signal.
        let group = ServiceGroup(
            services: [store, dispatcher, runner],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "shop")
        )
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            _ = try await carts.send(.add(product: "pear", quantity: 1, unitPrice: 90), to: "cart-carol")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await #expect(throws: EventStoreError.self) { try await store.headPosition() }
    }

    // "Test with the test kit".

    @Test func checkingOutRecordsTheLines() throws {
        let apples = Cart.Line(product: "apple", quantity: 3, unitPrice: 40)
        try Cart.given([.itemAdded(.init(line: apples))])
            .when(.checkOut)
            .then([.checkedOut(.init(lines: [apples]))])
    }

    @Test func anEmptyCartCannotBeCheckedOut() throws {
        try Cart.given([]).when(.checkOut).thenThrows(Cart.Rejection.emptyCart)
    }

    @Test func salesAddUpPerProduct() async throws {
        let apples = Cart.Line(product: "apple", quantity: 3, unitPrice: 40)
        try await ProjectionScenario(ProductSales())
            .given(Cart.self, stream: "cart-1", [.itemAdded(.init(line: apples)), .checkedOut(.init(lines: [apples]))])
            .given(Cart.self, stream: "cart-2", [.itemAdded(.init(line: apples))])
            .then({ $0.totals["apple"] }, equals: ProductSales.Total(units: 3, revenue: 120))
    }

    /// The README's example ("A first aggregate").
    @Test func readme() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let store = try await SQLiteEventStore.open(path: directory.appendingPathComponent("bank.sqlite").path)
        let dispatcher = Dispatcher(store: store)
        let accounts = dispatcher.aggregate(Account.self)
        _ = try await accounts.send(.deposit(100), to: "account-1")
        let result = try await accounts.send(.withdraw(30), to: "account-1")
        print(result.aggregate.state.balance, result.streamVersion)  // 70 2

        #expect(result.aggregate.state.balance == 70)
        #expect(result.streamVersion == 2)
        await #expect(throws: Account.InsufficientFunds.self) {
            try await accounts.send(.withdraw(71), to: "account-1")
        }
        #expect(try await store.headPosition() == 2)
        store.close()
    }
}

/// The README's aggregate, as it is there.
enum Account: Aggregate {
    struct State: Codable, Sendable { var balance = 0 }
    enum Command: Sendable { case deposit(Int), withdraw(Int) }
    enum Event: Sendable { case deposited(Amount), withdrawn(Amount) }
    struct Amount: Codable, Sendable { var value: Int }
    struct InsufficientFunds: Error {}

    static let initialState = State()
    static let events = EventRegistry<Event>()
        .registering("Deposited", Amount.self, embed: Event.deposited) {
            if case .deposited(let amount) = $0 { amount } else { nil }
        }
        .registering("Withdrawn", Amount.self, embed: Event.withdrawn) {
            if case .withdrawn(let amount) = $0 { amount } else { nil }
        }

    static func evolve(_ state: State, _ event: Event) -> State {
        switch event {
        case .deposited(let amount): State(balance: state.balance + amount.value)
        case .withdrawn(let amount): State(balance: state.balance - amount.value)
        }
    }

    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .deposit(let value): return [.deposited(Amount(value: value))]
        case .withdraw(let value):
            guard value <= state.balance else { throw InsufficientFunds() }
            return [.withdrawn(Amount(value: value))]
        }
    }
}
