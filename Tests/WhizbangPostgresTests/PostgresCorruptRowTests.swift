import Foundation
import Logging
import PostgresNIO
import PostgresTesting
import Testing
import Whizbang

@testable import WhizbangPostgres

/// Rows that no store writes, made by hand (the schema has no check that a version or position is positive): a
/// negative value was converted to an unsigned one with a trap, which stopped the process, in every read that met it
/// (`replay`, `export`, a running console, any subscriber). It is now refused as `corruptDatabase`.
@Suite(
    "PostgresEventStore rows changed outside the store",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresCorruptRowTests {
    @Test("a negative version or position in an event row, or a negative stream version, is corruptDatabase")
    func aNegativeVersionIsRefused() async throws {
        try await PostgresTestServer.withStore { store in
            _ = try await store.append(makeEvents(2), to: "s", expectedVersion: .noStream)
            _ = try await store.append(makeEvents(1), to: "t", expectedVersion: .noStream)
            let schema = store.configuration.schema
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".events SET version = -1 WHERE position = 1", configuration: store.configuration)
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".events SET position = -5 WHERE position = 2", configuration: store.configuration)
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".streams SET version = -2 WHERE stream_id = 't'",
                configuration: store.configuration)
            await expectError(.corruptDatabase) { _ = try await store.readAll(after: 0, limit: 10) }
            await expectError(.corruptDatabase) {
                _ = try await store.readStream("s", from: 1, direction: .forwards, limit: 10)
            }
            await expectError(.corruptDatabase) { _ = try await store.streamVersion(of: "t") }
            // The rows after it read as they are.
            #expect(try await store.readAll(after: 1, limit: 10).map(\.position) == [3])
        }
    }

    /// The read model tables have no check of the sign either: a negative position in a row, or in the state row,
    /// trapped the conversion in every query of the read model, the status, the wait and the inline fold.
    @Test("a negative position in a read model's row or state is corruptDatabase")
    func aNegativeReadModelPositionIsRefused() async throws {
        let name = DepositTotals().name
        let configuration = try PostgresReadModelTests.configuration([DepositTotals()])
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            _ = try await store.append([PostgresReadModelTests.deposit(5)], to: "a", expectedVersion: .noStream)
            try await store.waitForReadModel(named: name, toReach: nil, timeout: TestPatience.success)
            let schema = store.configuration.schema
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".read_model_rows SET position = -3", configuration: store.configuration)
            await expectError(.corruptDatabase) { _ = try await store.readModelRow(named: name, key: "a") }
            await expectError(.corruptDatabase) {
                _ = try await store.readModelRows(named: name, matching: ReadModelQuery())
            }
            // The inline fold reads the row it folds into.
            await expectError(.corruptDatabase) {
                _ = try await store.append([PostgresReadModelTests.deposit(1)], to: "a", expectedVersion: .any)
            }
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".read_models SET served_position = -1", configuration: store.configuration)
            await expectError(.corruptDatabase) { _ = try await store.readModelStatus(named: name) }
            await expectError(.corruptDatabase) {
                try await store.waitForReadModel(named: name, toReach: nil, timeout: TestPatience.success)
            }
        }
    }

    /// An event row no store writes, met by a read model's batch: the follower logged the `corruptDatabase` and tried
    /// the batch again at every pass, for ever, while the status said `backfilling` and waits ran out their time.
    @Test("a corrupt event row met by a read model's batch fails the read model")
    func aCorruptEventRowFailsTheReadModel() async throws {
        var configuration = try PostgresReadModelTests.configuration([])
        let plain = try PostgresEventStore(configuration: configuration)
        try await PostgresTestServer.withRunningStore(plain) { store in
            _ = try await store.append(
                [PostgresReadModelTests.deposit(5), PostgresReadModelTests.deposit(7)], to: "a",
                expectedVersion: .noStream)
        }
        try await PostgresTestServer.execute(
            "UPDATE \"\(configuration.schema)\".events SET version = -1 WHERE position = 2",
            configuration: configuration)
        configuration.readModels = [DepositTotals(mode: .async)]
        let name = DepositTotals().name
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            // Well before the timeout: the batch that meets the row fails the read model.
            await #expect {
                try await store.waitForReadModel(named: name, toReach: nil, timeout: TestPatience.success)
            } throws: { error in
                guard let error = error as? ReadModelError else { return false }
                return error.code == .failed && error.message.contains("corruptDatabase")
            }
            let status = try await store.readModelStatus(named: name)
            #expect(status.state == .failed, "\(status)")
            #expect(status.failure?.contains("position 2") == true, "\(status)")
            #expect(status.position < 2, "\(status)")
        }
    }

    /// A negative position of the rows served, changed by hand: the follower of an async read model read the log
    /// "after" it, from the start, and folded every event into the rows a second time. It now fails the read model.
    @Test("a negative served position fails an async read model instead of folding the log into its rows again")
    func aNegativeServedPositionFailsTheFollower() async throws {
        let name = DepositTotals().name
        let configuration = try PostgresReadModelTests.configuration([DepositTotals(mode: .async)])
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let first = try await store.append([PostgresReadModelTests.deposit(5)], to: "a", expectedVersion: .noStream)
            try await store.waitForReadModel(
                named: name, toReach: first.positions.upperBound - 1, timeout: TestPatience.success)
            let before = try await store.readModelRow(named: name, key: "a")
            let schema = store.configuration.schema
            try await PostgresTestServer.execute(
                "UPDATE \"\(schema)\".read_models SET served_position = -1", configuration: store.configuration)
            _ = try await store.append([PostgresReadModelTests.deposit(1)], to: "b", expectedVersion: .noStream)
            // The follower's next step either fails the read model or (before) moved its position past the log. Each
            // step that changes a read model's state advances the follower's progress: the row is read again after
            // each. A follower that does nothing leaves the wait to the suite's time limit, which fails the test.
            let progress = store.readModels.progress
            let connection = try await PostgresTestServer.connect(store.configuration, id: 9)
            let sql = "SELECT state, served_position FROM \"\(schema)\".read_models WHERE name = '\(name)'"
            var state = ""
            var position: Int64 = -1
            do {
                while true {
                    // Taken before the row is read: a step that ends after the read still wakes the wait below.
                    let seen = progress.head
                    let rows = try await connection.query(
                        PostgresQuery(unsafeSQL: sql), logger: Logger(label: "whizbang.postgres.tests")
                    ).collect()
                    (state, position) = try rows.first?.decode((String, Int64).self) ?? ("", -1)
                    if state == "failed" || position >= 0 { break }
                    try await progress.wait(after: seen)
                }
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
            #expect(state == "failed")
            #expect(try await store.readModelRow(named: name, key: "a") == before)
        }
    }
}
