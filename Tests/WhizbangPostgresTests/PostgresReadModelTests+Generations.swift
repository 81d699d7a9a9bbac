import Foundation
import PostgresTesting
import Testing
import Whizbang
@testable import WhizbangPostgres

/// The generation served and the one being built: each goes on while the other is held or has failed.
extension PostgresReadModelTests {
    /// The status of read model `name` in `store` once `condition` holds, or the last one read when `timeout` has
    /// passed first; wakes on the store's read model commits, not on a timer.
    static func status(
        of name: String, in store: PostgresEventStore, within timeout: Duration,
        where condition: (ReadModelStatus) -> Bool
    ) async throws -> ReadModelStatus {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let progress = store.readModels.progress
        while true {
            let seen = progress.head
            let status = try await store.readModelStatus(named: name)
            let remaining = clock.now.duration(to: deadline)
            if condition(status) || remaining <= .zero { return status }
            await PostgresReadModels.waitForAny([{ try await progress.wait(after: seen) }], upTo: remaining)
        }
    }

    /// While a rebuild runs, an async read model's served rows go on following the log. A trigger holds the build
    /// where it started (it skips every update of the state that would move it, so its batches commit and get
    /// nowhere), so the rebuild is still under way when the event appended after it must reach the rows served,
    /// whatever the timing.
    @Test func anAsyncReadModelFollowsTheLogWhileItsRebuildIsHeld() async throws {
        var projection = DepositTotals()
        projection.mode = .async
        var configuration = try Self.configuration([projection])
        configuration.readModelBatchSize = 1
        // Only the store's own appends and wake-ups move the follower, not a look on a timer.
        configuration.readModelPollInterval = .seconds(3600)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let reader = ReadModel(projection, in: store)
            // A short history: with batches of one event each is a transaction under the append lock, which a busy
            // server (CI's, under the whole suite) takes as slowly as a second each; the trigger, not the history's
            // length, keeps the rebuild under way.
            for batch in 0..<3 {
                _ = try await store.append(
                    (0..<20).map { Self.deposit($0) }, to: StreamID("acct-\(batch)"), expectedVersion: .noStream)
            }
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            let schema = "\"\(configuration.schema)\""
            try await PostgresTestServer.execute(
                """
                CREATE FUNCTION \(schema).hold_build() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.building_position > OLD.building_position THEN RETURN NULL; END IF;
                    RETURN NEW;
                END $$
                """, configuration: configuration)
            try await PostgresTestServer.execute(
                """
                CREATE TRIGGER hold_build BEFORE UPDATE ON \(schema).read_models
                    FOR EACH ROW EXECUTE FUNCTION \(schema).hold_build()
                """, configuration: configuration)
            try await store.rebuildReadModel(named: projection.name)
            let appended = try await store.append([Self.deposit(1000)], to: "acct-new", expectedVersion: .noStream)
            let status = try await Self.status(of: projection.name, in: store, within: .seconds(30)) {
                $0.position >= appended.positions.upperBound - 1
            }
            #expect(status.position == 61, "the served rows stopped following the log during the rebuild")
            #expect(status.rebuild?.position == 0 && status.state == .live)
            #expect(try await reader.row("acct-new") == .init(deposits: 1, total: 1000))

            // Let go, a rebuild finishes (afresh: the held batches folded the first event again and again) and
            // its rows are the fold of the whole log.
            try await PostgresTestServer.execute(
                "DROP TRIGGER hold_build ON \(schema).read_models", configuration: configuration)
            try await store.rebuildReadModel(named: projection.name)
            _ = try await store.append([Self.deposit(1)], to: "acct-new", expectedVersion: .exact(1))
            let caughtUp = try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            #expect(caughtUp.rebuild == nil && caughtUp.position == 62)
            #expect(try await Self.rows(of: projection, in: store) == projection.fold(Self.log(of: store)))
        }
    }

    /// A rolling upgrade whose new version's fold throws on an old event: the process that serves the old version
    /// goes on folding its appends inline and catching up with appends made without it, while the status of the
    /// read model reports the failed build.
    @Test func aFailedBuildOfANewVersionLeavesTheServedVersionServedAndMaintained() async throws {
        let schema = try PostgresTestServer.configuration().schema
        let old = DepositTotals()
        var new = DepositTotals()
        new.version = 2
        new.refusedTypes.insert("Legacy")
        let oldStore = try PostgresEventStore(configuration: Self.configuration([old], schema: schema))
        let newStore = try PostgresEventStore(configuration: Self.configuration([new], schema: schema))
        try await PostgresTestServer.withRunningStore(oldStore) { oldStore in
            let reader = ReadModel(old, in: oldStore)
            _ = try await oldStore.append(
                [Self.deposit(1), EventData(eventType: "Legacy", data: Data("{}".utf8))], to: "acct-a",
                expectedVersion: .noStream)
            try await reader.waitUntilCaughtUp(timeout: TestPatience.success)
            try await PostgresTestServer.withRunningStore(newStore) { newStore in
                let failure = await #expect(throws: ReadModelError.self) {
                    try await newStore.waitForReadModel(named: new.name, toReach: nil, timeout: TestPatience.success)
                }
                #expect(failure?.code == .failed)

                // The old process folds its own appends inline, as before the failed build ...
                _ = try await oldStore.append([Self.deposit(10)], to: "acct-a", expectedVersion: .exact(2))
                #expect(try await reader.row("acct-a") == .init(deposits: 2, total: 11))
                // ... and catches up with an append of the new process, which folds nothing into version 1.
                _ = try await newStore.append([Self.deposit(100)], to: "acct-a", expectedVersion: .exact(3))
                _ = try await oldStore.append([Self.deposit(1000)], to: "acct-a", expectedVersion: .exact(4))
                let status = try await Self.status(of: old.name, in: oldStore, within: .seconds(30)) {
                    $0.position == 5
                }
                #expect(status.position == 5, "the served version stopped when the new version's build failed")
                #expect(try await reader.row("acct-a") == .init(deposits: 4, total: 1111))
                #expect(status.state == .failed && status.servedVersion == 1 && status.rebuild?.version == 2)
                #expect(status.failure?.contains("legacy is refused") == true, "\(status)")
            }
        }
        try await PostgresTestServer.dropSchema(try Self.configuration([], schema: schema))
    }
}
