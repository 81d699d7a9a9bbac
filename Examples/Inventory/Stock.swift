import Whizbang

/// The stock of one product: units received, and units held for orders until they ship.
enum Stock: Aggregate {
    struct State: Codable, Sendable, Equatable {
        var available = 0
        var reservations: [String: Int] = [:]  // order id → units held for it
    }

    enum Command: Sendable {
        case receive(quantity: Int)
        case reserve(quantity: Int, order: String)
        case release(order: String)
    }

    /// The events, registered below from the cases alone: each is stored under its payload type's name
    /// (`StockReceived`, …), which is why the payload types carry the aggregate's name.
    enum Event: EventEnumeration, Equatable {
        case received(StockReceived)
        case reserved(StockReserved)
        case released(StockReleased)

        var payload: any EventPayload {
            switch self {
            case .received(let payload): payload
            case .reserved(let payload): payload
            case .released(let payload): payload
            }
        }
    }

    struct StockReceived: EventPayload, Equatable { var quantity: Int }
    struct StockReserved: EventPayload, Equatable { var quantity: Int, order: String }
    struct StockReleased: EventPayload, Equatable { var quantity: Int, order: String }

    /// The rejection of a reservation larger than what is available.
    struct OutOfStock: Error, Equatable {
        var requested: Int
        var available: Int
    }

    static let initialState = State()

    static let events = EventRegistry<Event>(Event.received, Event.reserved, Event.released)

    /// The stream of a product's stock.
    static func streamID(_ sku: String) -> StreamID { StreamID("stock-\(sku)") }

    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .received(let received):
            state.available += received.quantity
        case .reserved(let reserved):
            state.available -= reserved.quantity
            state.reservations[reserved.order] = reserved.quantity
        case .released(let released):
            state.available += released.quantity
            state.reservations[released.order] = nil
        }
        return state
    }

    // The process manager may deliver a command twice (after a crash), so `reserve` and `release` are idempotent:
    // they are keyed by the order, and a repeat is accepted without recording anything.
    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        switch command {
        case .receive(let quantity):
            return [.received(StockReceived(quantity: quantity))]
        case .reserve(let quantity, let order):
            if state.reservations[order] != nil { return [] }  // already held for this order
            guard quantity <= state.available else {
                throw OutOfStock(requested: quantity, available: state.available)
            }
            return [.reserved(StockReserved(quantity: quantity, order: order))]
        case .release(let order):
            guard let quantity = state.reservations[order] else { return [] }  // nothing held: nothing to undo
            return [.released(StockReleased(quantity: quantity, order: order))]
        }
    }
}
