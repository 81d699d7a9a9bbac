import Foundation
import HTTPTypes
import Testing
import Whizbang
import WhizbangConsole

@Suite("Console: a runner's state and error, and the store's size", .timeLimit(.minutes(5)))
struct ProjectionStatusTests {
    /// A projection named `ledger` that fails on the event at `failingPosition` with a message holding markup.
    struct FailingProjection: Projection {
        let failingPosition: UInt64
        var name: String { "ledger" }

        struct Failure: Error, CustomStringConvertible {
            var description: String { "cannot apply <b>event</b> 3: the balance went negative" }
        }

        func apply(_ events: [RecordedEvent]) async throws {
            if events.contains(where: { $0.position == failingPosition }) { throw Failure() }
        }

        func reset() async throws {}
    }

    @Test func aFailedRunnerShowsFailedWithItsErrorAndMakesTheConsoleUnready() async throws {
        let board = ProjectionStatusBoard()
        let fixture = try ConsoleFixture { $0.projectionStatus = board }
        try await fixture.seed()
        var configuration = ProjectionRunnerConfiguration()
        configuration.batchSize = 1
        configuration.statusBoard = board
        let runner = ProjectionRunner(
            projection: FailingProjection(failingPosition: 3), store: fixture.store, configuration: configuration)
        await #expect(throws: FailingProjection.Failure.self) { try await runner.run() }

        let status = try #require(board.status(of: "ledger"))
        #expect(status.state == .failed)
        #expect(status.error == "cannot apply <b>event</b> 3: the balance went negative")

        let projections = try #require(
            try JSONSerialization.jsonObject(with: Data(try await fixture.request("/api/projections").body.utf8))
                as? [[String: Any]])
        let ledger = try #require(projections.first)
        #expect(ledger["runner"] as? String == "failed")
        #expect(ledger["error"] as? String == "cannot apply <b>event</b> 3: the balance went negative")
        #expect(ledger["checkpoint"] as? Int == 2)

        let page = try await fixture.request("/projections")
        #expect(page.body.contains("failed: cannot apply &lt;b&gt;event&lt;/b&gt; 3: the balance went negative"))
        #expect(!page.body.contains("<b>event</b>"))

        let ready = try await fixture.request("/health/ready")
        #expect(ready.status == .serviceUnavailable)
        #expect(ready.body.contains("projection ledger failed"))
    }

    @Test func aRunnerIsRunningWhileItFollowsAndStoppedOnceCancelled() async throws {
        let board = ProjectionStatusBoard()
        let fixture = try ConsoleFixture { $0.projectionStatus = board }
        try await fixture.seed()
        var configuration = ProjectionRunnerConfiguration()
        configuration.statusBoard = board
        let runner = ProjectionRunner(
            projection: FailingProjection(failingPosition: 0), store: fixture.store, configuration: configuration)
        let task = Task { try await runner.run() }
        try await runner.waitUntilApplied(through: 5)
        #expect(board.status(of: "ledger")?.state == .running)
        let page = try await fixture.request("/projections")
        #expect(page.body.contains("<td>running</td>"))
        task.cancel()
        try await task.value
        #expect(board.status(of: "ledger")?.state == .stopped)
        #expect(board.status(of: "ledger")?.error == nil)
        #expect(try await fixture.request("/health/ready").status == .ok)
    }

    @Test func withoutABoardTheRunnerColumnSaysNothing() async throws {
        let fixture = try ConsoleFixture()
        try await fixture.seed()
        let api = try ConsoleFixture.json(try await fixture.request("/api/overview").body)
        let projections = try #require(api["projections"] as? [[String: Any]])
        #expect(projections.first?["runner"] == nil)
        #expect(api["storeBytes"] == nil)
        #expect(!(try await fixture.request("/").body.contains("store-size")))
    }

    @Test func theOverviewShowsTheStoreSize() async throws {
        let fixture = try ConsoleFixture { $0.storeSize = { 3 * 1_048_576 + 104_858 } }
        try await fixture.seed()
        let api = try ConsoleFixture.json(try await fixture.request("/api/overview").body)
        #expect(api["storeBytes"] as? Int == 3 * 1_048_576 + 104_858)
        let page = try await fixture.request("/")
        #expect(page.body.contains("<dd id=\"store-size\">3.1 MiB</dd>"))
    }
}
