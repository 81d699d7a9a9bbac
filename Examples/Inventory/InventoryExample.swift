import Whizbang
import WhizbangStore

/// Orders and stock with a process manager between them, on the in-memory store: one order is confirmed, one is
/// short of stock and rejected after its first reservation is released again.
@main
struct InventoryExample {
    static func main() async throws {
        // The only line that names a store. The in-memory store keeps the same contract as the SQLite one; for an
        // SQLite file write `let store = try await SQLiteEventStore.open(path: "inventory.sqlite")`.
        let store = InMemoryEventStore()
        try await run(on: store)
    }

    /// Everything else: the same code on any ``EventStore``. Returns the outcome of each order, by order id.
    @discardableResult
    static func run<Store: EventStore>(on store: Store) async throws -> [StreamID: Order.Status] {
        let dispatcher = Dispatcher(store: store)
        let stock = dispatcher.aggregate(Stock.self)
        let orders = dispatcher.aggregate(Order.self)

        _ = try await stock.send(.receive(quantity: 10), to: Stock.streamID("widget"))
        _ = try await stock.send(.receive(quantity: 2), to: Stock.streamID("gadget"))

        // Placing an order only records it; the process manager does the rest.
        _ = try await orders.send(
            .place([.init(sku: "widget", quantity: 4), .init(sku: "gadget", quantity: 1)]), to: "order-1")
        let second = try await orders.send(
            .place([.init(sku: "widget", quantity: 3), .init(sku: "gadget", quantity: 5)]), to: "order-2")

        // Run the process manager until it has handled every event, including those its own commands recorded.
        let runner = ProjectionRunner(projection: Fulfillment(stock: stock, orders: orders), store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            try await runner.waitUntilCaughtUp()
            group.cancelAll()
        }

        var outcomes: [StreamID: Order.Status] = [:]
        for id: StreamID in ["order-1", "order-2"] {
            let order = try await orders.load(id).state
            outcomes[id] = order.status
            print("\(id): \(order.status.rawValue)" + (order.reason.map { " (\($0))" } ?? ""))
        }
        for sku in ["widget", "gadget"] {
            let state = try await stock.load(Stock.streamID(sku)).state
            let held = state.reservations.sorted { $0.key < $1.key }.map { "\($0.value) for \($0.key)" }
            print("\(sku): \(state.available) available, held: \(held.joined(separator: ", "))")
        }

        // Every event records the envelope of the command behind it, so one order's whole conversation — across
        // streams — shares the correlation id of the command that placed it.
        print("order-2, step by step:")
        for event in try await store.readAll(after: 0, limit: 100)
        where try event.commandEnvelope()?.correlationID == second.envelope.correlationID {
            print("  #\(event.position) \(event.eventType) on \(event.streamID)")
        }

        await dispatcher.shutdown()
        return outcomes
    }
}
