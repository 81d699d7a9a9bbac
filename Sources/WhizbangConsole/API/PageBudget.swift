import Whizbang

/// What is left of a page of events: a count, and bytes of payload and metadata
/// (``ConsoleConfiguration/maximumPageBytes``). A page holds at least one event, whatever its size.
struct PageBudget {
    /// The most events the store is asked for at once.
    static let slice = 64

    private var events: Int
    private var bytes: Int
    private var taken = 0
    private var isFull = false

    init(events: Int, bytes: Int) {
        self.events = events
        self.bytes = bytes
    }

    /// How many events to read next, or `nil` when the page is full.
    var nextSlice: Int? {
        isFull || events <= 0 ? nil : min(events, Self.slice)
    }

    /// The events of `slice` that fit, in order.
    mutating func take(_ slice: [RecordedEvent]) -> ArraySlice<RecordedEvent> {
        var count = 0
        for event in slice {
            let size = event.data.count + event.metadata.count
            guard taken == 0 || size <= bytes, events > 0 else {
                isFull = true
                break
            }
            taken += 1
            count += 1
            events -= 1
            bytes -= size
        }
        return slice.prefix(count)
    }

    /// Whether the last ``take(_:)`` took all of `slice`, a full slice of `asked` events: the store may have more.
    func took(all slice: [RecordedEvent], asked: Int) -> Bool {
        !isFull && slice.count == asked
    }
}
