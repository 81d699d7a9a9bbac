import Logging
import Synchronization
import Testing
import WhizbangPostgres

/// An outage is logged once, as a warning, and the recovery once, at info: not a line per failed call or per pooled
/// connection.
@Suite(
    "PostgreSQL outage logging",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresOutageLogTests {
    /// The store logs in as a role of its own; the outage ends every connection of that role and keeps the role
    /// from connecting again (`CONNECTION LIMIT 0`: the server refuses with 53300), as a server that is down would,
    /// without touching the other tests' stores.
    @Test func oneOutageLogsOneWarningAndItsRecoveryOneInfoLine() async throws {
        let administrator = try PostgresTestServer.configuration()
        let role = try await PostgresTestRole.create(administrator: administrator)
        let records = RecordingLogHandler.Records()
        var configuration = role.configuration
        configuration.logger = RecordingLogHandler.logger(level: .info, records: records)
        configuration.requestTimeout = .seconds(3)
        configuration.connectTimeout = .seconds(3)
        configuration.maximumRetryDelay = .milliseconds(200)
        let failedCalls = 3
        // The records the outage left: those after the setup's, up to the end of the body. The store's shutdown that
        // follows is not what is measured (on a loaded machine it can log a warning of its own, a part that did not
        // stop in time).
        let outcome: Result<Range<Int>, any Error>
        do {
            try await PostgresTestServer.createTables(configuration)
            outcome = .success(
                // Setup, not what is measured: on a loaded machine a start can miss the 3 s deadline (the store then
                // fails to start, `closed`); a new store tries again.
                try await withStartedStore(configuration) { store, started in
                    // Setup too: the first connection can miss the deadline, and the store then logs an outage and its
                    // end of its own, which the checks below leave out.
                    try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .any, store: store)
                    started.set()
                    let setup = records.all.count
                    try await role.execute("ALTER ROLE \(role.name) CONNECTION LIMIT 0")
                    try await role.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role.name)'")
                    for _ in 0..<failedCalls {
                        await expectError(.unavailable) {
                            _ = try await store.append(makeEvents(1), to: "s", expectedVersion: .any)
                        }
                    }
                    #expect(records.all.dropFirst(setup).filter { $0.level >= .info }.map(\.level) == [.warning])
                    try await role.execute("ALTER ROLE \(role.name) CONNECTION LIMIT -1")
                    try await appendRetrying(makeEvents(1), to: "s", expectedVersion: .any, store: store)
                    _ = try await retryingWhileUnavailable { try await store.readAll(after: 0, limit: 10) }
                    return setup..<records.all.count
                })
        } catch {
            outcome = .failure(error)
        }
        try await role.drop()
        let outage = try outcome.get()
        // The lines end where another outage begins, at its warning after the first recovery: the calls after the
        // recovery can miss their deadline on a loaded machine, and a second outage is not this test's subject. A
        // missing recovery, or one logged twice, still fails the checks below.
        let afterSetup = Array(records.all[outage]).filter { $0.level >= .info }
        let recovery = afterSetup.firstIndex { $0.message == "PostgreSQL is available again" }
        let nextOutage = recovery.flatMap { found in afterSetup[(found + 1)...].firstIndex { $0.level >= .warning } }
        let logged = Array(afterSetup[..<(nextOutage ?? afterSetup.count)])
        #expect(logged.map(\.level) == [.warning, .info], "\(logged.map { "\($0.level): \($0.message)" })")
        #expect(logged.first?.message.contains("unavailable") == true)
        #expect(logged.last?.message == "PostgreSQL is available again")
        let failed = logged.last?.metadata["failedCalls"].map { "\($0)" }.flatMap { Int($0) } ?? 0
        #expect(failed >= failedCalls, "\(logged.last?.metadata ?? [:])")
    }

    /// The listener's failures to connect again were mapped inside a debug line's metadata, which is built only when
    /// debug lines are logged: at the default level an outage that only the listener met (no call failed) left no
    /// line at all, while the store learned nothing of other processes' appends.
    @Test func anOutageOnlyTheListenerMeetsLogsAWarning() async throws {
        let administrator = try PostgresTestServer.configuration()
        let role = try await PostgresTestRole.create(administrator: administrator)
        let records = RecordingLogHandler.Records()
        var configuration = role.configuration
        configuration.logger = RecordingLogHandler.logger(level: .info, records: records)
        configuration.listenerReconnectDelay = .milliseconds(50)
        let outcome: Result<Bool, any Error>
        do {
            try await PostgresTestServer.createTables(configuration)
            outcome = .success(
                try await withStartedStore(configuration) { store, started in
                    _ = try await retryingWhileUnavailable { try await store.headPosition() }
                    started.set()
                    let setup = records.all.count
                    try await role.execute("ALTER ROLE \(role.name) CONNECTION LIMIT 0")
                    try await role.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role.name)'")
                    // No call is made: only the listener, connecting again every 50 ms, meets the outage. Its warning
                    // ends the wait; without one, the suite's time limit cancels it and the test fails.
                    let warned: Bool
                    do {
                        _ = try await records.first(from: setup) { $0.level == .warning }
                        warned = true
                    } catch {
                        warned = false
                    }
                    try await role.execute("ALTER ROLE \(role.name) CONNECTION LIMIT -1")
                    return warned
                })
        } catch {
            outcome = .failure(error)
        }
        try await role.drop()
        #expect(try outcome.get(), "no warning while the listener could not connect")
    }

    /// Runs `body` with a running store of `configuration`, starting a new store while one fails to start (at most
    /// five times); `body` marks the flag once the store has served its first call.
    private func withStartedStore<Result: Sendable>(
        _ configuration: PostgresEventStore.Configuration,
        _ body: (PostgresEventStore, StartedFlag) async throws -> Result
    ) async throws -> Result {
        for attempt in 1... {
            let started = StartedFlag()
            do {
                let store = try PostgresEventStore(configuration: configuration)
                return try await PostgresTestServer.withRunningStore(store) { store in try await body(store, started) }
            } catch let error as EventStoreError where error.code == .closed && !started.isSet && attempt < 5 {
                continue
            }
        }
        preconditionFailure("unreachable")
    }
}

/// Whether a store's body began.
private final class StartedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
