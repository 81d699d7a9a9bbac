import Foundation
import Whizbang
import WhizbangStore

/// Shopping carts on an SQLite event store: commands through a Dispatcher, rejections, and a projection of sales per
/// product kept up to date by a ProjectionRunner.
@main
struct ShoppingCartExample {
    static func main() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("shopping-cart-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // 1. The event store: an SQLite file in the temporary directory above, closed when it is released. This is
        //    the only line that names a store; for the in-memory store write `let store = InMemoryEventStore()`.
        let store = try await SQLiteEventStore.open(path: directory.appendingPathComponent("carts.sqlite").path)
        try await run(on: store)
    }

    /// Everything else: the same code on any ``EventStore``. Returns the number of events in the log at the end.
    @discardableResult
    static func run<Store: EventStore>(on store: Store) async throws -> UInt64 {
        // 2. A dispatcher, and a handle for the Cart aggregate. Commands to one cart run one at a time, in order.
        let dispatcher = Dispatcher(store: store)
        let carts = dispatcher.aggregate(Cart.self)

        // 3. Fill two carts and check them out. Each accepted command returns the cart's new state and version.
        func send(_ commands: [Cart.Command], to cart: StreamID) async throws -> CommandResult<Cart> {
            var last: CommandResult<Cart>?
            for command in commands { last = try await carts.send(command, to: cart) }
            return last!
        }
        let alice = try await send(
            [
                .add(product: "apple", quantity: 3, unitPrice: 40),
                .add(product: "bread", quantity: 1, unitPrice: 250),
                .remove(product: "bread"),
                .checkOut,
            ], to: "cart-alice")
        print("cart-alice checked out at version \(alice.streamVersion): \(describe(alice.aggregate.state))")
        let bob = try await send(
            [
                .add(product: "apple", quantity: 2, unitPrice: 40),
                .add(product: "cheese", quantity: 1, unitPrice: 520),
                .checkOut,
            ], to: "cart-bob")
        print("cart-bob checked out at version \(bob.streamVersion): \(describe(bob.aggregate.state))")

        // 4. A rejected command throws the aggregate's error and writes nothing.
        let mistakes: [(Cart.Command, StreamID)] = [
            (.checkOut, "cart-carol"),  // nothing in it
            (.remove(product: "pear"), "cart-bob"),  // already checked out
            (.add(product: "pear", quantity: 0, unitPrice: 90), "cart-dave"),  // no quantity
        ]
        for (command, cart) in mistakes {
            do {
                _ = try await carts.send(command, to: cart)
            } catch let rejection as Cart.Rejection {
                print("rejected \(command) on \(cart): \(rejection)")
            }
        }

        // 5. The projection: a runner catches it up from the log, then follows new events until cancelled.
        let sales = ProductSales()
        let runner = ProjectionRunner(projection: sales, store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            // Read your own writes: wait until the runner has applied everything in the log so far.
            try await runner.waitUntilApplied(through: try await store.headPosition())
            group.cancelAll()  // in a service, a ServiceGroup's graceful shutdown stops the runner instead
        }
        print("sales per product:")
        for (product, total) in sales.totals.sorted(by: { $0.key < $1.key }) {
            let name = product.padding(toLength: 8, withPad: " ", startingAt: 0)
            print("  \(name) \(total.units) units  \(money(total.revenue))")
        }
        let head = try await store.headPosition()
        print("events in the log: \(head)")

        await dispatcher.shutdown()
        return head
    }

    static func describe(_ cart: Cart.State) -> String {
        let lines = cart.lines.values.sorted { $0.product < $1.product }
        let total = lines.reduce(0) { $0 + $1.quantity * $1.unitPrice }
        return lines.map { "\($0.quantity) × \($0.product)" }.joined(separator: ", ") + ", total \(money(total))"
    }

    static func money(_ cents: Int) -> String {
        String(format: "$%d.%02d", cents / 100, cents % 100)
    }
}
