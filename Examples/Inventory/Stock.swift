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

    enum Event: Sendable, Equatable {
        case received(Received)
        case reserved(Reserved)
        case released(Released)
    }

    struct Received: Codable, Sendable, Equatable { var quantity: Int }
    struct Reserved: Codable, Sendable, Equatable { var quantity: Int, order: String }
    struct Released: Codable, Sendable, Equatable { var quantity: Int, order: String }

    /// The rejection of a reservation larger than what is available.
    struct OutOfStock: Error, Equatable {
        var requested: Int
        var available: Int
    }

    static let initialState = State()

    static let events = EventRegistry<Event>()
        .registering("StockReceived", Received.self, embed: Event.received) {
            if case .received(let event) = $0 { event } else { nil }
        }
        .registering("StockReserved", Reserved.self, embed: Event.reserved) {
            if case .reserved(let event) = $0 { event } else { nil }
        }
        .registering("StockReleased", Released.self, embed: Event.released) {
            if case .released(let event) = $0 { event } else { nil }
        }

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
            return [.received(Received(quantity: quantity))]
        case .reserve(let quantity, let order):
            if state.reservations[order] != nil { return [] }  // already held for this order
            guard quantity <= state.available else {
                throw OutOfStock(requested: quantity, available: state.available)
            }
            return [.reserved(Reserved(quantity: quantity, order: order))]
        case .release(let order):
            guard let quantity = state.reservations[order] else { return [] }  // nothing held: nothing to undo
            return [.released(Released(quantity: quantity, order: order))]
        }
    }
}
