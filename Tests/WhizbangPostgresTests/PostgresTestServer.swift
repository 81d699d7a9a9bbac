import Foundation
import Logging
import PostgresNIO
import Testing
import WhizbangPostgres

/// The PostgreSQL server the tests use, named by the environment variable `WHIZBANG_POSTGRES_URL`
/// (`scripts/postgres-server.sh start DIR` starts one and prints its URL).
enum PostgresTestServer {
    static let urlVariable = "WHIZBANG_POSTGRES_URL"

    static var url: String? {
        ProcessInfo.processInfo.environment[urlVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether tests that need the server run: when it is configured, and always under `CI=true`, where a missing
    /// server must fail the run rather than skip it.
    static var isEnabled: Bool {
        url != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    }

    /// The configuration of a store on the test server in a new, unique schema.
    static func configuration() throws -> PostgresEventStore.Configuration {
        guard let url else {
            throw TestServerMissing()
        }
        var configuration = try PostgresEventStore.Configuration(url: url)
        configuration.schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(20).lowercased()
        configuration.maximumConnections = 4
        return configuration
    }

    /// Runs `body` with a running store in a fresh schema, then closes the store and drops the schema.
    static func withStore<Result: Sendable>(
        configuration: PostgresEventStore.Configuration? = nil,
        _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        let configuration = try configuration ?? Self.configuration()
        let store = try PostgresEventStore(configuration: configuration)
        defer { store.close() }
        let result = try await withRunningStore(store, body)
        try await dropSchema(configuration)
        return result
    }

    /// Like ``withStore(configuration:_:)``, for a test about calls under short time limits rather than about the
    /// store's start: `body` gets a store that has started. A start that missed `configuration`'s limits (a busy
    /// machine: the start's connect, use lock and head read all run under `requestTimeout`) fails every call with
    /// `closed`; such a store is closed and a new one started, at most five times, before `body` runs.
    static func withStartedStore<Result: Sendable>(
        configuration: PostgresEventStore.Configuration,
        _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        for attempt in 1... {
            let store = try PostgresEventStore(configuration: configuration)
            defer { store.close() }
            do {
                let result = try await withRunningStore(store) { store in
                    do {
                        _ = try await store.headPosition()
                    } catch let error as EventStoreError where error.code == .closed || error.code == .unavailable {
                        throw StartMissed(error: error)
                    }
                    return try await body(store)
                }
                try await dropSchema(configuration)
                return result
            } catch let missed as StartMissed {
                guard attempt < 5 else { throw missed.error }
            }
        }
        preconditionFailure("unreachable")
    }

    /// A store that did not start (or whose first call did not answer) before a test's body ran.
    private struct StartMissed: Error {
        let error: EventStoreError
    }

    /// Runs `store` while `body` uses it; closes it after `body` and waits for `run()` to return.
    static func withRunningStore<Result: Sendable>(
        _ store: PostgresEventStore,
        _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            do {
                let result = try await body(store)
                store.close()
                try await group.waitForAll()
                return result
            } catch {
                store.close()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Runs SQL on a connection of its own to the test server.
    static func execute(_ sql: String, configuration: PostgresEventStore.Configuration) async throws {
        let connection = try await connect(configuration, id: 1)
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "whizbang.postgres.tests"))
            try await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs a query on a connection of its own to the test server; returns its first column as text.
    static func strings(_ sql: String, configuration: PostgresEventStore.Configuration) async throws -> [String] {
        let connection = try await connect(configuration, id: 1)
        do {
            var values: [String] = []
            for try await row in try await connection.query(
                PostgresQuery(unsafeSQL: sql), logger: Logger(label: "whizbang.postgres.tests"))
            {
                values.append(try row.decode(String.self))
            }
            try await connection.close()
            return values
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A connection of its own to the test server, without the store's settings.
    static func connect(_ configuration: PostgresEventStore.Configuration, id: Int) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            id: id,
            logger: Logger(label: "whizbang.postgres.tests")
        )
    }

    /// Creates the store's tables in `configuration`'s schema under time limits made for a busy machine, so that a
    /// test whose own limits are short (a 200 ms statement timeout, a 2 s request deadline) then starts its store on
    /// a schema that is already current. Such a test is about calls under those limits; a migration under them fails
    /// when the suite keeps the machine busy.
    static func createTables(_ configuration: PostgresEventStore.Configuration) async throws {
        var relaxed = configuration
        relaxed.statementTimeout = nil
        relaxed.requestTimeout = .seconds(60)
        relaxed.connectTimeout = .seconds(60)
        relaxed.logger = Logger(label: "whizbang.postgres.tests")
        let store = try PostgresEventStore(configuration: relaxed)
        defer { store.close() }
        _ = try await withRunningStore(store) { try await $0.headPosition() }
    }

    static func dropSchema(_ configuration: PostgresEventStore.Configuration) async throws {
        try await execute("DROP SCHEMA IF EXISTS \"\(configuration.schema)\" CASCADE", configuration: configuration)
    }
}

/// Thrown under `CI=true` when no server is configured.
struct TestServerMissing: Error, CustomStringConvertible {
    var description: String {
        "\(PostgresTestServer.urlVariable) is not set: CI must provide a PostgreSQL server "
            + "(scripts/postgres-server.sh start DIR prints its URL)"
    }
}

/// `count` events with JSON data.
func makeEvents(_ count: Int, type: String = "Deposited") -> [EventData] {
    (0..<count).map { index in
        EventData(eventType: type, data: Data(#"{"amount":\#(index)}"#.utf8), metadata: Data(#"{"hop":1}"#.utf8))
    }
}

/// Appends as a careful caller does: the same append again after `unavailable`, up to `attempts` times. Right after
/// an outage the pool may still hand out a connection the server has ended, once.
@discardableResult
func appendRetrying(
    _ events: [EventData], to streamID: StreamID, expectedVersion: ExpectedVersion, store: PostgresEventStore,
    attempts: Int = 5
) async throws -> AppendResult {
    try await retryingWhileUnavailable(attempts: attempts) {
        try await store.append(events, to: streamID, expectedVersion: expectedVersion)
    }
}

/// Runs `body` again while it fails with `unavailable`, up to `attempts` times in all: for setup and follow-up
/// calls made under a short deadline, which a busy machine can miss without that being what a test checks.
func retryingWhileUnavailable<Result>(attempts: Int = 5, _ body: () async throws -> Result) async throws -> Result {
    for attempt in 1... {
        do {
            return try await body()
        } catch let error as EventStoreError where error.code == .unavailable && attempt < attempts {
            continue
        }
    }
    fatalError("unreachable")
}

/// Expects `body` to throw an ``EventStoreError`` with `code`, and returns it.
@discardableResult
func expectError(
    _ code: EventStoreError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> EventStoreError? {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as EventStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
