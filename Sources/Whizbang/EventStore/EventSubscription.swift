/// The events of a store's global log after a position, catching up first and then following new commits.
///
/// Created by ``EventStore/subscribe(after:batchSize:)``. Each iterator reads on demand: it fetches the next batch
/// only when the previous one has been consumed, and when it has caught up it waits with
/// ``EventStore/waitForEvents(after:)`` instead of polling.
public struct EventSubscription<Store: EventStore>: AsyncSequence, Sendable {
    /// The subscription yields the log's events, in global order.
    public typealias Element = RecordedEvent

    let store: Store
    let position: UInt64
    let batchSize: Int

    init(store: Store, after position: UInt64, batchSize: Int) {
        self.store = store
        self.position = position
        self.batchSize = Swift.max(1, batchSize)
    }

    /// Starts reading after the subscription's position. Each iterator reads the log on its own, from that position.
    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, position: position, batchSize: batchSize)
    }

    /// Reads the subscription's events one at a time.
    ///
    /// Cancellation is final: once the iterating task is cancelled, ``next()`` returns `nil`, even with events
    /// still buffered, and every later call returns `nil` too.
    public struct Iterator: AsyncIteratorProtocol {
        let store: Store
        /// The position of the last event returned.
        public private(set) var position: UInt64
        let batchSize: Int
        var buffer: [RecordedEvent] = []
        var index = 0
        var isFinished = false

        init(store: Store, position: UInt64, batchSize: Int) {
            self.store = store
            self.position = position
            self.batchSize = batchSize
        }

        /// The next event; waits for one to be committed when the subscription has caught up.
        ///
        /// Returns `nil` once the task is cancelled, and from then on.
        ///
        /// - Throws: the store's error.
        public mutating func next() async throws -> RecordedEvent? {
            guard !isFinished else { return nil }
            guard !Task.isCancelled else { return finish() }
            while index == buffer.count {
                do {
                    buffer = try await store.readAll(after: position, limit: batchSize)
                    index = 0
                    if buffer.isEmpty {
                        try await store.waitForEvents(after: position)
                    }
                } catch {
                    // A read or wait that stopped because the task was cancelled ends the subscription.
                    if Task.isCancelled || error is CancellationError { return finish() }
                    throw error
                }
                guard !Task.isCancelled else { return finish() }
            }
            let event = buffer[index]
            index += 1
            position = event.position
            return event
        }

        private mutating func finish() -> RecordedEvent? {
            isFinished = true
            buffer = []
            index = 0
            return nil
        }
    }
}
