import Foundation
import Testing
import WhizbangStore

/// Two dispatchers on separate connections to one SQLite file, as two service instances would be: their serial lanes
/// do not know about each other, so they race on the same aggregates, and optimistic concurrency with retries must
/// lose no update and surface no conflict.
@Suite(.timeLimit(.minutes(5)))
struct TwoDispatchersTests {
    enum Counter: Aggregate {
        struct State: Codable, Sendable { var count = 0 }
        enum Command: Sendable { case increment }
        struct Incremented: Codable, Sendable { var to: Int }

        static let initialState = State()
        static let events = EventRegistry<Incremented>()
            .registering("Incremented", Incremented.self, embed: { $0 }, extract: { $0 })

        static func evolve(_ state: State, _ event: Incremented) -> State { State(count: event.to) }

        static func decide(_ command: Command, _ state: State) throws -> [Incremented] {
            [Incremented(to: state.count + 1)]
        }
    }

    @Test func racingDispatchersLoseNoUpdate() async throws {
        try await withStore { first, path in
            let second = try await SQLiteEventStore.open(path: path, configuration: .testing)
            defer { second.close() }
            var configuration = DispatcherConfiguration()
            configuration.policies.defaultRetry.maximumAttempts = 100
            let counters = [
                Dispatcher(store: first, configuration: configuration).aggregate(Counter.self),
                Dispatcher(store: second, configuration: configuration).aggregate(Counter.self),
            ]
            // A deterministic conflict first: the first dispatcher's cache still says version 1 when it sends again.
            _ = try await counters[0].send(.increment, to: "counter-0")
            _ = try await counters[1].send(.increment, to: "counter-0")
            let stale = try await counters[0].send(.increment, to: "counter-0")
            #expect(stale.attempts == 2)
            #expect(stale.aggregate.state.count == 3)

            let streams = (1...8).map { StreamID("counter-\($0)") }
            let perDispatcherAndStream = 25
            try await withThrowingTaskGroup(of: Void.self) { group in
                for counter in counters {
                    for stream in streams {
                        group.addTask {
                            for _ in 0..<perDispatcherAndStream {
                                _ = try await counter.send(.increment, to: stream)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for stream in streams {
                // Every accepted command is one event, and each decided on the state its predecessor left.
                #expect(try await first.streamVersion(of: stream) == UInt64(2 * perDispatcherAndStream))
                let events = try await first.readStream(stream, from: 1, direction: .forwards, limit: 1_000)
                let values = try events.map { try JSONDecoder().decode(Counter.Incremented.self, from: $0.data).to }
                #expect(values == Array(1...(2 * perDispatcherAndStream)))
            }
        }
    }
}
