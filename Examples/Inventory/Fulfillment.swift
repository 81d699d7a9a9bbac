import Whizbang

/// The process manager between orders and stock: for each placed order it reserves every line, then confirms the
/// order; when a line is short it releases what it already reserved (the compensation) and rejects the order.
///
/// It is a projection of the log run by a `ProjectionRunner`, so a crash delivers events again: every command it
/// sends is idempotent in its aggregate, and it checks the order's status before acting.
///
/// It is generic over the store, so that it names none: the example picks the store in one line.
struct Fulfillment<Store: EventStore>: ProcessManager {
    let name = "fulfillment"
    let stock: AggregateHandler<Stock, Store>
    let orders: AggregateHandler<Order, Store>

    func handle(_ event: RecordedEvent, cause: EnvelopeMetadata) async throws {
        // Every event of the store comes by; react only to placed orders that still wait for stock.
        guard case .placed(let placed)? = try event.decode(as: Order.self),
            try await orders.load(event.streamID).state.status == .placed
        else { return }
        let order = event.streamID.rawValue
        var reserved: [Order.Line] = []
        for line in placed.lines {
            do {
                // `causedBy: cause` keeps the conversation: the command's correlation id is the order's.
                _ = try await stock.send(
                    .reserve(quantity: line.quantity, order: order), to: Stock.streamID(line.sku), causedBy: cause)
                reserved.append(line)
            } catch let shortage as Stock.OutOfStock {
                // Compensate: give back what this order holds, then reject it. A domain error that is part of the
                // workflow is caught; any other error stops the runner and the event is delivered again.
                for line in reserved {
                    _ = try await stock.send(.release(order: order), to: Stock.streamID(line.sku), causedBy: cause)
                }
                let reason = "\(line.sku): \(shortage.requested) wanted, \(shortage.available) available"
                _ = try await orders.send(.reject(reason: reason), to: event.streamID, causedBy: cause)
                return
            }
        }
        _ = try await orders.send(.confirm, to: event.streamID, causedBy: cause)
    }
}
