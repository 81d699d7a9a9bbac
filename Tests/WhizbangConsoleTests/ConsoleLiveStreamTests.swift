import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import ServiceLifecycle
import Testing
import Whizbang
import WhizbangConsole

/// Live-update streams while the store does not answer, the limit on streams at once, the gauge that says whether
/// the store answered, and a bracketed IPv6 loopback address.
@Suite("Console: live streams and the store's outages", .timeLimit(.minutes(2)))
struct ConsoleLiveStreamTests {
    private func configuration() -> ConsoleConfiguration {
        var configuration = ConsoleConfiguration()
        configuration.refreshInterval = .milliseconds(10)
        configuration.storeTimeout = .seconds(30)
        return configuration
    }

    /// The overview's stream read the head before it began, so a store that did not answer for a moment got it a 503,
    /// after which a browser's `EventSource` never tries again; and a round in which the store did not answer wrote
    /// nothing, so a stream whose client had gone went on reading the store until its time was up.
    @Test("a live stream answers 200 while the store is down, and writes every round", arguments: [
        "/api/live?updates=2", "/api/live?tail=true&updates=2", "/api/live?tail=true&after=0&updates=2",
    ])
    func liveStreamWhileTheStoreIsDown(_ path: String) async throws {
        let store = SwitchableStore()
        _ = try await store.append([EventData(eventType: "Opened", data: Data("{}".utf8))], to: "a", expectedVersion: .any)
        store.fail(true)
        let console = try StoreConsole(store: store, configuration: configuration())
        try await Application(router: console.makeRouter()).test(.router) { client in
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .ok, "\(path): \(String(buffer: response.body))")
                let body = String(buffer: response.body)
                #expect(body.components(separatedBy: ": the store did not answer\n\n").count == 3, "\(path): \(body)")
            }
        }
        // Once the store answers, the same stream sends the overview, and the tail its events.
        store.fail(false)
        try await Application(router: console.makeRouter()).test(.router) { client in
            try await client.execute(uri: path.replacingOccurrences(of: "updates=2", with: "updates=1"), method: .get) {
                let body = String(buffer: $0.body)
                #expect(body.contains("event: overview") && !body.contains("did not answer"), "\(body)")
                #expect(body.contains("event: event") == path.contains("after=0"), "\(body)")
            }
        }
    }

    /// Every stream reads the store each round; there was no limit to how many one client could open.
    @Test("a live stream past maximumLiveStreams ends at once, and its place is free again when a stream ends")
    func liveStreamsAreLimited() async throws {
        let store = SwitchableStore()
        var configuration = configuration()
        configuration.maximumLiveStreams = 1
        let console = try StoreConsole(store: store, configuration: configuration)
        try await Application(router: console.makeRouter()).test(.router) { client in
            store.hold()
            try await withThrowingTaskGroup(of: String.self) { group in
                group.addTask {
                    try await client.execute(uri: "/api/live?updates=1", method: .get) { String(buffer: $0.body) }
                }
                // The first stream has its place: its first round waits for the head.
                var held = store.heldReads.makeAsyncIterator()
                _ = await held.next()
                try await client.execute(uri: "/api/live?updates=1", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = String(buffer: response.body)
                    #expect(body.hasPrefix("retry: 60000\n") && body.contains("more than 1 live streams"), "\(body)")
                    #expect(!body.contains("event: "), "\(body)")
                }
                store.release()
                let first = try await group.next() ?? ""
                #expect(first.contains("event: overview"), "\(first)")
            }
            try await client.execute(uri: "/api/live?updates=1", method: .get) {
                #expect(String(buffer: $0.body).contains("event: overview"))
            }
        }
    }

    /// The catalog read 4,096 whole events at a time whatever their size (4 GiB of 1 MiB payloads), and the live
    /// tail 500, where a page of the log holds at most `maximumPageBytes`.
    @Test("the catalog and the live tail read large events a few at a time")
    func largeEventsAreReadAFewAtATime() async throws {
        let store = SwitchableStore()
        let payload = Data("\"\(String(repeating: "x", count: 64 << 10))\"".utf8)
        for batch in 0..<12 {
            let events = (0..<50).map { _ in EventData(eventType: "Big", data: payload) }
            _ = try await store.append(events, to: StreamID("big-\(batch)"), expectedVersion: .any)
        }
        var configuration = configuration()
        configuration.catalog.maximumBatchBytes = 1 << 20
        let console = try StoreConsole(store: store, configuration: configuration)
        await console.refresh()
        #expect(console.catalog.indexedPosition == 600)
        #expect(console.catalog.streamCount == 12)
        // At most twice the budget, and far from the 38 MiB of one read of every event.
        #expect(store.largestReadBytes <= 2 << 20, "\(store.largestReadBytes)")
        try await Application(router: console.makeRouter()).test(.router) { client in
            // Every event after `after`, in the first round: the tail sent at most 500 events a round before (one
            // refresh interval), and fell further behind a writer that appended faster than that for good.
            try await client.execute(uri: "/api/live?tail=true&after=0&updates=1", method: .get) {
                #expect(String(buffer: $0.body).components(separatedBy: "event: event\n").count == 601)
            }
        }
        // The tail reads slices of 64 events: 4 MiB and some of these.
        #expect(store.largestReadBytes <= 64 * (payload.count + 64), "\(store.largestReadBytes)")
    }

    /// A page of the log read its head first and its events after: events appended in between were in the page,
    /// past the head it reported (59 such pages in 20 s beside a writer).
    @Test("a page of the log never reports a head below its own events")
    func aLogPageHeadCoversItsEvents() async throws {
        let store = SwitchableStore()
        let data = Data("{}".utf8)
        let ten = (0..<10).map { _ in EventData(eventType: "E", data: data) }
        _ = try await store.append(ten, to: "a", expectedVersion: .any)
        let console = try StoreConsole(store: store, configuration: configuration())
        try await Application(router: console.makeRouter()).test(.router) { client in
            store.hold()
            async let body = client.execute(uri: "/api/log?after=0&limit=50", method: .get) { String(buffer: $0.body) }
            for await _ in store.heldReads { break }
            let five = (0..<5).map { _ in EventData(eventType: "E", data: data) }
            _ = try await store.append(five, to: "a", expectedVersion: .any)
            store.release()
            let page = try JSONSerialization.jsonObject(with: Data(try await body.utf8)) as? [String: Any]
            let positions = (page?["events"] as? [[String: Any]])?.compactMap { $0["position"] as? Int } ?? []
            #expect(positions == Array(1...15))
            #expect(page?["headPosition"] as? Int == 15, "\(page ?? [:])")
            #expect(page?["next"] is NSNull, "\(page ?? [:])")
            // The same for a stream's page and the stream's version.
            store.hold()
            async let streamBody = client.execute(uri: "/api/stream?id=a&limit=50", method: .get) {
                String(buffer: $0.body)
            }
            for await _ in store.heldReads { break }
            _ = try await store.append([EventData(eventType: "E", data: data)], to: "a", expectedVersion: .any)
            store.release()
            let streamPage = try JSONSerialization.jsonObject(with: Data(try await streamBody.utf8)) as? [String: Any]
            #expect((streamPage?["events"] as? [[String: Any]])?.count == 16)
            #expect(streamPage?["version"] as? Int == 16, "\(streamPage ?? [:])")
            #expect(streamPage?["next"] is NSNull, "\(streamPage ?? [:])")
        }
    }

    /// The gauges kept their last values through an outage, and nothing in a scrape said that the store was down.
    @Test("whizbang_console_store_up says whether the store answered the last refresh")
    func storeUpGauge() async throws {
        let store = SwitchableStore()
        let console = try StoreConsole(store: store, configuration: configuration())
        await console.refresh()
        #expect(console.registry.emitToString().contains("whizbang_console_store_up 1"))
        #expect(console.registry.emitToString().contains("whizbang_console_last_read_timestamp_seconds"))
        store.fail(true)
        await console.refresh()
        #expect(console.registry.emitToString().contains("whizbang_console_store_up 0"))
        try await Application(router: console.makeRouter()).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) {
                #expect(String(buffer: $0.body).contains("whizbang_console_store_up 0"))
            }
            store.fail(false)
            try await client.execute(uri: "/metrics", method: .get) {
                #expect(String(buffer: $0.body).contains("whizbang_console_store_up 1"))
            }
        }
    }

    /// `[::1]` passed the loopback check, and its brackets went to the socket's address look-up, which failed with
    /// an error that was neither a `ConsoleError` nor named the address.
    @Test("a console on [::1] listens there, or says with cannotListen why it cannot")
    func bracketedIPv6Loopback() async throws {
        var configuration = configuration()
        configuration.host = "[::1]"
        configuration.port = 0
        let console = try StoreConsole(store: InMemoryEventStore(), configuration: configuration)
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let group = ServiceGroup(
            services: [BracketListening(console: console, listening: listening)], gracefulShutdownSignals: [],
            logger: Logger(label: "whizbang.console.test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                do {
                    try await group.run()
                } catch let error as ConsoleError {
                    #expect(error.code == .cannotListen && error.message.contains("[::1]"), "\(error)")
                    listening.finish()
                } catch {
                    Issue.record("run() threw \(error), not a ConsoleError")
                    listening.finish()
                }
            }
            var iterator = ports.makeAsyncIterator()
            if let port = await iterator.next() {
                #expect(port > 0)
                await group.triggerGracefulShutdown()
            }
            try await tasks.waitForAll()
        }
    }
}

private struct BracketListening<Store: EventStore>: Service {
    let console: StoreConsole<Store>
    let listening: AsyncStream<Int>.Continuation

    func run() async throws {
        try await console.run(onListening: { port in listening.yield(port) })
    }
}
