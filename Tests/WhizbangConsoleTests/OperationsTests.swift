import Foundation
import HTTPTypes
import Synchronization
import Testing
import Whizbang
import WhizbangConsole

@Suite("Console metrics, health and live updates", .timeLimit(.minutes(5)))
struct OperationsTests {
    /// The value of the sample whose name and labels are `series`, in Prometheus text.
    static func sample(_ series: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == series { return Double(parts[1]) }
        }
        return nil
    }

    @Test func metricsAreInThePrometheusTextFormatAndMove() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        try await fixture.store.saveCheckpoint(5, for: "ledger")
        let before = try await fixture.request("/metrics")
        #expect(before.status == .ok)
        #expect(before.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(before.body.contains("# TYPE whizbang_store_head_position gauge"))
        #expect(Self.sample("whizbang_store_head_position", in: before.body) == 5)
        #expect(Self.sample(#"whizbang_projection_lag_events{projection="ledger"}"#, in: before.body) == 0)
        try await fixture.append("account-3", count: 4)
        await fixture.console.refresh()
        let after = try await fixture.request("/metrics")
        #expect(Self.sample("whizbang_store_head_position", in: after.body) == 9)
        #expect(Self.sample(#"whizbang_projection_lag_events{projection="ledger"}"#, in: after.body) == 4)
    }

    @Test func readinessTurnsUnreadyWhenAProjectionFallsBehind() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        try await fixture.store.saveCheckpoint(5, for: "ledger")
        #expect(try await fixture.request("/health/ready").status == .ok)
        #expect(try await fixture.request("/health/live").status == .ok)
        // The projection stops at 5 while the log goes on: 3 events behind, above the allowed 2.
        try await fixture.append("account-1", count: 3)
        let unready = try await fixture.request("/health/ready")
        #expect(unready.status == .serviceUnavailable)
        #expect(unready.body.contains("ledger is 3 events behind"))
        try await fixture.store.saveCheckpoint(8, for: "ledger")
        #expect(try await fixture.request("/health/ready").status == .ok)
    }

    @Test func readinessProblemsMakeTheConsoleUnready() async throws {
        let problems = Mutex<[String]>([])
        let fixture = try ConsoleFixture { $0.readinessProblems = { problems.withLock { $0 } } }
        try await fixture.seed()
        try await fixture.store.saveCheckpoint(5, for: "ledger")
        #expect(try await fixture.request("/health/ready").status == .ok)
        problems.withLock { $0 = ["the file was replaced"] }
        let unready = try await fixture.request("/health/ready")
        #expect(unready.status == .serviceUnavailable)
        #expect(unready.body.contains("the file was replaced"), "\(unready.body)")
        problems.withLock { $0 = [] }
        #expect(try await fixture.request("/health/ready").status == .ok)
    }

    @Test func liveUpdatesSendTheOverviewAndTailTheLog() async throws {
        let fixture = try ConsoleFixture { $0.refreshInterval = .milliseconds(1) }
        try await fixture.seed()
        let response = try await fixture.request("/api/live?tail=true&after=3&updates=2")
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/event-stream")
        #expect(response.body.components(separatedBy: "event: overview\n").count == 3)
        let tailed = response.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: event\n") }
        #expect(tailed.count == 2)
        #expect(tailed.first?.contains("\"position\":4") == true)
        #expect(tailed.last?.contains("\"position\":5") == true)
    }

    @Test("a reconnecting live tail continues after its Last-Event-ID, and each event carries its position as id")
    func aReconnectingLiveTailContinuesAfterItsLastEvent() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        // A browser reconnects to the URL it was given (here after=0) and names the last id it received.
        let response = try await fixture.request(
            "/api/live?tail=true&after=0&updates=1", headers: [HTTPField.Name("Last-Event-ID")!: "3"])
        #expect(response.status == .ok)
        let tailed = response.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: event\n") }
        #expect(tailed.count == 2, "\(response.body)")
        for (message, position) in zip(tailed, [4, 5]) {
            #expect(message.contains("\nid: \(position)\n"), "\(message)")
            #expect(message.contains("\"position\":\(position),"), "\(message)")
        }
    }

    @Test("the live tail leaves out payload and metadata, which the page does not show")
    func theLiveTailLeavesOutBodies() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let response = try await fixture.request("/api/live?tail=true&after=3&updates=1")
        let tailed = response.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: event\n") }
        #expect(tailed.count == 2, "\(response.body)")
        for message in tailed {
            #expect(message.contains("\"payload\":\"\"") && message.contains("\"metadata\":\"\""), "\(message)")
            #expect(message.contains("\"type\":") && message.contains("\"recordedAt\":"), "\(message)")
        }
        #expect(!response.body.contains("amount"), "\(response.body)")
    }

    @Test func theThroughputComesFromTwoRefreshes() async throws {
        let store = InMemoryEventStore()
        let catalog = StreamCatalog()
        let start = Date(timeIntervalSince1970: 1_000)
        try await catalog.refresh(from: store, at: start)
        _ = try await store.append(
            (0..<10).map { _ in EventData(eventType: "E", data: Data()) }, to: "s", expectedVersion: .any)
        try await catalog.refresh(from: store, at: start.addingTimeInterval(2))
        #expect(catalog.eventsPerSecond == 5)
        #expect(catalog.samples.map(\.headPosition) == [10])
        #expect(catalog.indexedPosition == 10)
    }

    @Test func theCatalogReadsAtMostItsBudgetPerRefresh() async throws {
        let store = InMemoryEventStore()
        var configuration = StreamCatalog.Configuration()
        configuration.batchSize = 2
        configuration.maximumEventsPerRefresh = 3
        let catalog = StreamCatalog(configuration: configuration)
        for index in 0..<7 {
            _ = try await store.append(
                [EventData(eventType: "E", data: Data())], to: StreamID("s-\(index % 3)"), expectedVersion: .any)
        }
        try await catalog.refresh(from: store, at: Date())
        #expect(catalog.indexedPosition == 3)
        try await catalog.refresh(from: store, at: Date())
        try await catalog.refresh(from: store, at: Date())
        #expect(catalog.indexedPosition == 7)
        #expect(catalog.streams(prefix: "s-", after: nil, limit: 10).map(\.version) == [3, 2, 2])
    }
}
