public import Whizbang

extension PostgresEventStore {
    /// Follows the global log from after `position`, riding out outages: first the events already stored, then each
    /// new one as it is committed, every event once and in order.
    ///
    /// Unlike the general `EventStore/subscribe(after:batchSize:)`, a read that fails with
    /// `EventStoreError/Code/unavailable` (a lost connection, a server that is down or does not answer in time) does
    /// not end the subscription: it reads again from its last delivered position, after 50 milliseconds and then
    /// twice as long each time up to ``Configuration/maximumRetryDelay``. It ends when the store is closed (throwing
    /// `EventStoreError/Code/closed`), when an outage lasts longer than ``Configuration/subscriptionOutageLimit``
    /// (throwing `unavailable`; also while it waits, caught up, for the next event), or on any other error of the
    /// store.
    ///
    /// Once the iterating task is cancelled, the next call of `next()` returns `nil`, events already fetched are not
    /// delivered, and the iterator stays finished.
    public func subscribe(after position: UInt64 = 0, batchSize: Int = 512) -> PostgresSubscription {
        PostgresSubscription(store: self, after: position, batchSize: batchSize)
    }
}

/// The events of a PostgreSQL store's global log after a position, resuming by itself after outages.
///
/// Created by ``PostgresEventStore/subscribe(after:batchSize:)``, which describes when it ends.
public struct PostgresSubscription: AsyncSequence, Sendable {
    /// The subscription yields the log's events, in global order.
    public typealias Element = RecordedEvent

    let store: PostgresEventStore
    let position: UInt64
    let batchSize: Int

    init(store: PostgresEventStore, after position: UInt64, batchSize: Int) {
        self.store = store
        self.position = position
        self.batchSize = Swift.max(1, batchSize)
    }

    /// Starts reading after the subscription's position. Each iterator reads the log on its own, from that position.
    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, position: position, batchSize: batchSize)
    }

    /// Reads the subscription's events one at a time.
    public struct Iterator: AsyncIteratorProtocol {
        let store: PostgresEventStore
        /// The position of the last event returned.
        public private(set) var position: UInt64
        let batchSize: Int
        var buffer: [RecordedEvent] = []
        var index = 0
        var isFinished = false
        /// How many reads failed with `unavailable` and were retried, over the iterator's life.
        public private(set) var retries = 0

        init(store: PostgresEventStore, position: UInt64, batchSize: Int) {
            self.store = store
            self.position = position
            self.batchSize = batchSize
        }

        /// The next event; waits for one to be committed when the subscription has caught up, and for the server
        /// to come back during an outage.
        ///
        /// - Returns: `nil` once the iterating task has been cancelled, and on every later call.
        /// - Throws: `EventStoreError` — `closed` when the store closes, `unavailable` when an outage outlasts
        ///   ``PostgresEventStore/Configuration/subscriptionOutageLimit``, or another error of the store. The iterator
        ///   is finished afterwards.
        public mutating func next() async throws -> RecordedEvent? {
            guard !isFinished else { return nil }
            if Task.isCancelled { return finish() }
            if index == buffer.count {
                guard let batch = try await fetch() else { return finish() }
                buffer = batch
                index = 0
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

        /// Returns once an event after ``position`` is committed. With an outage limit
        /// (``PostgresEventStore/Configuration/subscriptionOutageLimit``) it also returns, to read again, when the
        /// store is in an outage (its listener lost the server, say): a read then fails, and the limit applies. It
        /// looks every quarter of the limit (at most every second); without a limit, the wait lasts until an event
        /// comes or the store closes, as the outage may.
        private func waitForEvents() async throws {
            guard let limit = store.configuration.subscriptionOutageLimit else {
                return try await store.waitForEvents(after: position)
            }
            let slice = Swift.max(Swift.min(limit / 4, .seconds(1)), .milliseconds(10))
            let (store, position) = (store, position)
            while true {
                let woken = try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        try await store.waitForEvents(after: position)
                        return true
                    }
                    group.addTask {
                        try await Task.sleep(for: slice)
                        return false
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? false
                }
                if woken || store.runner.outageBegan != nil { return }
            }
        }

        /// The next non-empty batch after ``position``, or `nil` when the task is cancelled first.
        private mutating func fetch() async throws -> [RecordedEvent]? {
            var outageBegan: ContinuousClock.Instant? = nil
            var delay: Duration = .milliseconds(50)
            // An outage of the store counts for this fetch from when the fetch began, not before.
            let fetchBegan = ContinuousClock.now
            while true {
                if Task.isCancelled { return nil }
                do {
                    let events = try await store.readAll(after: position, limit: batchSize)
                    if !events.isEmpty { return events }
                    outageBegan = nil
                    delay = .milliseconds(50)
                    try await waitForEvents()
                } catch is CancellationError {
                    return nil
                } catch let error as EventStoreError where error.code == .unavailable {
                    let now = ContinuousClock.now
                    // An outage the store saw before this read (its listener lost the server while the
                    // subscription waited) counts from its start, or from the start of this fetch if later.
                    let began = outageBegan ?? store.runner.outageBegan.map { Swift.max($0, fetchBegan) } ?? now
                    outageBegan = began
                    if let limit = store.configuration.subscriptionOutageLimit, now - began >= limit {
                        isFinished = true
                        throw EventStoreError(
                            .unavailable,
                            message: "the subscription gave up after an outage of \(now - began): \(error.message)")
                    }
                    retries += 1
                    do {
                        try await Task.sleep(for: delay)
                    } catch {
                        return nil
                    }
                    delay = Swift.min(delay * 2, store.configuration.maximumRetryDelay)
                } catch {
                    isFinished = true
                    throw error
                }
            }
        }
    }
}
