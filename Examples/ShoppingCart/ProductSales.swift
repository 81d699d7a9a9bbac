import Synchronization
import Whizbang

/// A read model: units sold and revenue per product, over every checked-out cart.
///
/// The model lives in memory, so it keeps its own position with it (`checkpointStorage = .projection`): after a
/// restart both start from zero together and the runner replays the log, instead of resuming from a checkpoint in
/// the store that an empty in-memory model would not match.
final class ProductSales: Projection {
    struct Total: Equatable, Sendable {
        var units = 0
        var revenue = 0  // in cents
    }

    private struct Model {
        var totals: [String: Total] = [:]
        var position: UInt64 = 0
    }

    let name = "product-sales"
    var checkpointStorage: ProjectionCheckpointStorage { .projection }
    // The runner never calls two methods at once, but readers may ask for totals at any time: guard the model.
    private let model = Mutex(Model())

    func apply(_ events: [RecordedEvent]) async throws {
        try model.withLock { model in
            for event in events {
                // The log holds every aggregate's events; `decode(as:)` is nil for events that are not the cart's.
                if case .checkedOut(let checkout)? = try event.decode(as: Cart.self) {
                    for line in checkout.lines {
                        model.totals[line.product, default: Total()].units += line.quantity
                        model.totals[line.product, default: Total()].revenue += line.quantity * line.unitPrice
                    }
                }
                model.position = event.position  // stored with the totals, in the same critical section
            }
        }
    }

    func reset() async throws { model.withLock { $0 = Model() } }

    func position() async throws -> UInt64 { model.withLock { $0.position } }

    /// The totals so far, by product.
    var totals: [String: Total] { model.withLock { $0.totals } }
}
