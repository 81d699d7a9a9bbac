import Whizbang

/// A shopping cart, written as a decider: commands in, events out, state folded from the events.
enum Cart: Aggregate {
    struct Line: Codable, Sendable, Equatable {
        var product: String
        var quantity: Int
        var unitPrice: Int  // in cents
    }

    struct State: Codable, Sendable, Equatable {
        var lines: [String: Line] = [:]
        var isCheckedOut = false
    }

    enum Command: Sendable {
        case add(product: String, quantity: Int, unitPrice: Int)
        case remove(product: String)
        case checkOut
    }

    enum Event: Sendable, Equatable {
        case itemAdded(ItemAdded)
        case itemRemoved(ItemRemoved)
        case checkedOut(CheckedOut)
    }

    // Event payloads are plain Codable structs: they are what is stored, so keep them small and stable.
    struct ItemAdded: Codable, Sendable, Equatable { var line: Line }
    struct ItemRemoved: Codable, Sendable, Equatable { var product: String }
    struct CheckedOut: Codable, Sendable, Equatable { var lines: [Line] }

    /// A rejected command. Throwing it from `decide` writes nothing.
    enum Rejection: Error, Equatable {
        case alreadyCheckedOut
        case invalidQuantity
        case notInCart(String)
        case emptyCart
    }

    static let initialState = State()

    // The registry gives every event a stable name in the log, so the log decodes without reflection.
    // Never rename a registered name once events are stored under it.
    static let events = EventRegistry<Event>()
        .registering("CartItemAdded", ItemAdded.self, embed: Event.itemAdded) {
            if case .itemAdded(let event) = $0 { event } else { nil }
        }
        .registering("CartItemRemoved", ItemRemoved.self, embed: Event.itemRemoved) {
            if case .itemRemoved(let event) = $0 { event } else { nil }
        }
        .registering("CartCheckedOut", CheckedOut.self, embed: Event.checkedOut) {
            if case .checkedOut(let event) = $0 { event } else { nil }
        }

    /// Applies one event. Pure and total: it also runs whenever the cart is reloaded.
    static func evolve(_ state: State, _ event: Event) -> State {
        var state = state
        switch event {
        case .itemAdded(let added):
            var line = state.lines[added.line.product] ?? Line(product: added.line.product, quantity: 0, unitPrice: 0)
            line.quantity += added.line.quantity
            line.unitPrice = added.line.unitPrice  // the latest price wins
            state.lines[line.product] = line
        case .itemRemoved(let removed):
            state.lines[removed.product] = nil
        case .checkedOut:
            state.isCheckedOut = true
        }
        return state
    }

    /// Decides what a command does: the events to record, or a thrown rejection.
    static func decide(_ command: Command, _ state: State) throws -> [Event] {
        guard !state.isCheckedOut else { throw Rejection.alreadyCheckedOut }
        switch command {
        case .add(let product, let quantity, let unitPrice):
            guard quantity > 0, unitPrice >= 0 else { throw Rejection.invalidQuantity }
            return [.itemAdded(ItemAdded(line: Line(product: product, quantity: quantity, unitPrice: unitPrice)))]
        case .remove(let product):
            guard state.lines[product] != nil else { throw Rejection.notInCart(product) }
            return [.itemRemoved(ItemRemoved(product: product))]
        case .checkOut:
            guard !state.lines.isEmpty else { throw Rejection.emptyCart }
            return [.checkedOut(CheckedOut(lines: state.lines.values.sorted { $0.product < $1.product }))]
        }
    }
}
