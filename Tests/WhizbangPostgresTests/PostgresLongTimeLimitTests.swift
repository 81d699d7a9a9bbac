import Foundation
import Testing

@testable import WhizbangPostgres

/// Times of the configuration meant as "no limit", such as `.seconds(Int64.max)`: refused with
/// `EventStoreError/Code/invalidArgument` when longer than 100 years, and working up to that.
///
/// A request timeout of `.seconds(Int64.max)` once crashed the process (an overflow trap) when the store first
/// turned it into nanoseconds or milliseconds.
@Suite("PostgresEventStore.Configuration times up to 100 years")
struct PostgresLongTimeLimitTests {
    typealias Configuration = PostgresEventStore.Configuration

    /// Each time of the configuration, set to `value`.
    static let settings: [(name: String, set: @Sendable (inout Configuration, Duration) -> Void)] = [
        ("requestTimeout", { $0.requestTimeout = $1 }),
        ("connectTimeout", { $0.connectTimeout = $1 }),
        ("maximumRetryDelay", { $0.maximumRetryDelay = $1 }),
        ("readModelPollInterval", { $0.readModelPollInterval = $1 }),
        ("listenerReconnectDelay", { $0.listenerReconnectDelay = $1 }),
        ("statementTimeout", { $0.statementTimeout = $1 }),
        ("idleInTransactionTimeout", { $0.idleInTransactionTimeout = $1 }),
        ("keepAliveInterval", { $0.keepAliveInterval = $1 }),
        ("subscriptionOutageLimit", { $0.subscriptionOutageLimit = $1 }),
    ]

    @Test("a time longer than 100 years is refused with invalidArgument; 100 years is accepted")
    func timesLongerThanALimitAreRefused() async throws {
        for (name, set) in Self.settings {
            var configuration = Configuration()
            set(&configuration, .seconds(Int64.max))
            let error = await expectError(.invalidArgument) { _ = try PostgresEventStore(configuration: configuration) }
            #expect(error?.message.contains(name) == true, "\(String(describing: error))")
            set(&configuration, .longestTimeLimit)
            #expect(throws: Never.self, "\(name)") { _ = try PostgresEventStore(configuration: configuration) }
        }
    }

    @Test(
        "a URL's time longer than 100 years is refused with invalidArgument",
        arguments: ["request_timeout", "connect_timeout", "keepalives_idle", "statement_timeout"])
    func urlTimesLongerThanALimitAreRefused(_ parameter: String) async throws {
        await expectError(.invalidArgument) {
            _ = try Configuration(url: "postgres://h/d?\(parameter)=\(Int64.max)", environment: [:])
        }
        // 4,000,000,000,000 seconds or milliseconds: more than 100 years either way.
        await expectError(.invalidArgument) {
            _ = try Configuration(url: "postgres://h/d?\(parameter)=4000000000000", environment: [:])
        }
        #expect(throws: Never.self) { _ = try Configuration(url: "postgres://h/d?\(parameter)=1000", environment: [:]) }
    }

    @Test("a server timeout of 100 years is sent as the server's largest, about 24 days")
    func serverTimeoutsAreClampedToTheServersLargest() {
        #expect(Configuration.milliseconds(.longestTimeLimit) == Int64(Int32.max))
        #expect(Configuration.milliseconds(.seconds(Int64.max)) == Int64(Int32.max))
        #expect(Configuration.milliseconds(.seconds(2)) == 2000)
        #expect(Configuration.milliseconds(.nanoseconds(1)) == 1)
    }

    @Test(
        "a store whose times are 100 years runs, appends and drops its tables",
        .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
        .timeLimit(.minutes(5)))
    func aStoreWithTimesOf100YearsWorks() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.requestTimeout = .longestTimeLimit
        configuration.connectTimeout = .longestTimeLimit
        configuration.statementTimeout = .longestTimeLimit
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store in
            _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
            #expect(try await store.headPosition() == 1)
        }
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        #expect(try await PostgresEventStore.installedSchemaVersion(configuration: configuration) == nil)
        try await PostgresEventStore.dropSchema(configuration: configuration)
    }

    @Test(
        "a request timeout meant as 'no limit' (Int64.max seconds) is refused with an error or works; it does not crash",
        .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
        .timeLimit(.minutes(5)))
    func aHugeRequestTimeoutDoesNotCrashTheProcess() async throws {
        try #require(PostgresTestServer.url != nil)
        await #expect(processExitsWith: .success) {
            var configuration = try PostgresTestServer.configuration()
            configuration.requestTimeout = .seconds(Int64.max)
            do {
                let store = try PostgresEventStore(configuration: configuration)
                try await PostgresTestServer.withRunningStore(store) { store in
                    _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
                }
                try? await PostgresTestServer.dropSchema(configuration)
            } catch let error as EventStoreError where error.code == .invalidArgument {
                // Refused with a typed error: as good as working.
            }
        }
    }
}
