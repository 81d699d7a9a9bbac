import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ProcessTesting
import ServiceLifecycle
import Synchronization
import Testing
import Whizbang
import WhizbangConsole

#if canImport(Glibc)
import Glibc
#endif

/// Waits the console bounds, tried with a client that stops reading and with a store call that does not answer to
/// cancellation; and projection names it refuses, since no store would answer for them.
@Suite("Console: bounded waits, and projection names it refuses", .serialized, .timeLimit(.minutes(5)))
struct ConsoleBoundedWaitTests {
    /// The call that ended cancelled the timer before it claimed the answer, and the timer, woken by the cancellation,
    /// could claim it first: a store that had answered got a 503 "did not ... within 5.0 seconds" in a millisecond
    /// (about one request in a hundred, more under load).
    @Test("a store that answers is never reported as timed out")
    func aStoreThatAnswersIsNeverReportedAsTimedOut() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let application = Application(router: fixture.console.makeRouter())
        try await application.test(.router) { client in
            var statuses: [HTTPResponse.Status: Int] = [:]
            for _ in 0..<3_000 {
                let status = try await client.execute(uri: "/api/head", method: .get) { $0.status }
                statuses[status, default: 0] += 1
            }
            #expect(statuses == [.ok: 3_000], "\(statuses)")
        }
    }

    /// Every store call waits at most `storeTimeout`, then the request answers 503, and `storeSize` runs under
    /// `storeTimeout`: even a measure that does not end when its task is cancelled (a `stat` on a hung network file
    /// system, a driver call that ignores cancellation) gets its request a 503 in time.
    @Test("a store measure that ignores cancellation still gets the request its 503 after storeTimeout")
    func storeSizeIgnoringCancellationIsStillBounded() async throws {
        let gate = CancellationIgnoringGate()
        var configuration = ConsoleConfiguration()
        configuration.storeTimeout = .milliseconds(200)
        configuration.storeSize = {
            await gate.wait()
            return 1
        }
        let console = try StoreConsole(store: InMemoryEventStore(), configuration: configuration)
        let application = Application(router: console.makeRouter())
        try await application.test(.router) { client in
            let status = try await withThrowingTaskGroup(of: HTTPResponse.Status?.self) { group in
                group.addTask {
                    try await client.execute(uri: "/api/overview", method: .get) { $0.status }
                }
                group.addTask {
                    // The deadline: a measure that holds its request waits until the gate opens, for ever. Not 10 s
                    // or 30 s: with the whole suite on two busy cores this test once took 24 s.
                    try? await Task.sleep(for: .seconds(120))
                    return nil
                }
                let first = try await group.next() ?? nil
                // Let the measure return, so that the request (if it is still waiting) ends and nothing is left.
                gate.open()
                group.cancelAll()
                while try await group.next() != nil {}
                return first
            }
            #expect(status != nil, "GET /api/overview was still waiting 120 s after its 200 ms store timeout")
            if let status { #expect(status == .serviceUnavailable) }
        }
    }

    /// `validate()` refuses, with `invalidConfiguration`, a projection name that no store accepts as a checkpoint's
    /// consumer (empty, or holding NUL); served, it would make `/`, `/api/overview`, `/api/projections` and
    /// `/health/ready` answer 503 for as long as the console ran.
    @Test("a projection name no store accepts is refused by the configuration, not served as a 503 forever")
    func invalidProjectionNameIsRefused() {
        for name in ["", "a\u{0}b"] {
            var configuration = ConsoleConfiguration()
            configuration.projections = [name]
            #expect(throws: ConsoleError.self, "projection name \(name.debugDescription)") {
                try configuration.validate()
            }
        }
    }

    /// Graceful shutdown ends the live-update streams, so that an open page never keeps the console from stopping:
    /// also a stream whose write waits for room in the socket of a client that has stopped reading, which ends with
    /// its connection.
    @Test("a live stream to a client that stops reading ends at graceful shutdown, and the console stops")
    func liveStreamToAClientThatStopsReading() async throws {
        let store = InMemoryEventStore()
        // 400 events with types of 32 KiB (the tail leaves out payloads, not types): one round of the tail (500
        // events at most) is 12.8 MiB, far more than the socket buffers and NIO's high-water mark hold between a
        // server and a client that reads nothing.
        let type = String(repeating: "x", count: 32 << 10)
        for batch in 0..<8 {
            let events = (0..<50).map { _ in EventData(eventType: type, data: Data("{}".utf8)) }
            _ = try await store.append(events, to: StreamID("big-\(batch)"), expectedVersion: .any)
        }
        var configuration = ConsoleConfiguration()
        configuration.port = 0
        configuration.refreshInterval = .milliseconds(50)
        configuration.maximumLiveDuration = .seconds(1)
        // The response has begun: the first round, which the client cannot take in without reading, is under way.
        let stopped = try await stopsWhileWriting(
            "/api/live?tail=true&after=0", of: store, configuration: configuration)
        #expect(
            stopped,
            """
            the console was still running 120 s after graceful shutdown began, with a live stream (limit 1 s) \
            open to a client that stopped reading
            """)
    }

    @Test("an event's page to a client that stops reading ends at graceful shutdown, and the console stops")
    func eventPageToAClientThatStopsReading() async throws {
        let store = InMemoryEventStore()
        // One event of 1 MiB of quotes: its page escapes each as `&quot;`, six times the bytes, far more than the
        // socket buffers and NIO's high-water mark hold for a client that reads nothing. A page is one buffer, handed
        // to the connection whole (unlike a live stream's rounds, which wait for each write): nothing waits on the
        // client, and shutdown closes the connection.
        let payload = Data(("\"" + String(repeating: "\\\"", count: 1 << 19) + "\"").utf8)
        _ = try await store.append(
            [EventData(eventType: "Big", data: payload)], to: StreamID("big"), expectedVersion: .any)
        var configuration = ConsoleConfiguration()
        configuration.port = 0
        configuration.maximumLiveDuration = .seconds(600)
        let stopped = try await stopsWhileWriting("/events/1", of: store, configuration: configuration)
        #expect(stopped, "the console was still running 120 s after graceful shutdown began, writing a page")
    }

    /// Runs a console on `store`, asks it for `path` from a client that reads only the response's head, then begins
    /// graceful shutdown; whether the console stopped within 120 s (a hang lasts for ever; on a busy CI machine a
    /// whole test of these took up to 17 s).
    private func stopsWhileWriting(
        _ path: String, of store: InMemoryEventStore, configuration: ConsoleConfiguration
    ) async throws -> Bool {
        let console = try StoreConsole(store: store, configuration: configuration)
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let group = ServiceGroup(
            services: [ListeningConsole(console: console, listening: listening)], gracefulShutdownSignals: [],
            logger: Logger(label: "whizbang.console.test"))
        let client = LoopbackClient()
        defer { client.close() }
        return try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await group.run()
                return true
            }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try client.connect(port, receiveBuffer: 4096)
            try client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(try await client.read(until: "\r\n\r\n", chunk: 256).hasPrefix("HTTP/1.1 200"))
            await group.triggerGracefulShutdown()
            tasks.addTask {
                try? await Task.sleep(for: .seconds(120))
                return false
            }
            let stopped = try await tasks.next() ?? false
            // Unblock the server (a closed socket fails its write) so that the test ends either way.
            client.close()
            tasks.cancelAll()
            while (try? await tasks.next()) != nil {}
            return stopped
        }
    }
}

/// A one-shot gate whose waiters ignore cancellation: they wait until ``open()``.
private final class CancellationIgnoringGate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Runs a console and reports the port it listens on.
private struct ListeningConsole<Store: EventStore>: Service {
    let console: StoreConsole<Store>
    let listening: AsyncStream<Int>.Continuation

    func run() async throws {
        try await console.run(onListening: { port in listening.yield(port) })
    }
}
