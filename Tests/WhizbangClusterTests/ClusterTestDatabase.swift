import Foundation
import Logging
import PostgresNIO
import Testing
import WhizbangCluster
import WhizbangPostgres

/// The PostgreSQL server of the cluster tests: `WHIZBANG_POSTGRES_URL`, as for the store's tests. Without it the
/// tests are skipped, except under `CI=true`, where they fail.
enum ClusterTestDatabase {
    static var url: String? {
        ProcessInfo.processInfo.environment["WHIZBANG_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var isEnabled: Bool { url != nil || ProcessInfo.processInfo.environment["CI"] == "true" }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "WHIZBANG_POSTGRES_URL is not set: CI must provide a PostgreSQL server" }
    }

    /// A store configuration in a new schema; the cluster's tables go to `<schema>_cluster`.
    static func configuration() throws -> PostgresEventStore.Configuration {
        guard let url else { throw Missing() }
        var configuration = try PostgresEventStore.Configuration(url: url)
        configuration.schema = "ctest_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        configuration.maximumConnections = 8
        configuration.idleInTransactionTimeout = .seconds(30)
        // Generous: the whole test suite runs at once on a shared machine.
        configuration.connectTimeout = .seconds(30)
        configuration.requestTimeout = .seconds(30)
        return configuration
    }

    /// A cluster configuration with 8 partitions and leases far longer than any test: no lease expires by itself
    /// during a test, however slow the machine (a test that needs an expired lease expires it in SQL).
    static func cluster() -> ClusterConfiguration {
        var configuration = ClusterConfiguration()
        configuration.partitionCount = 8
        configuration.heartbeatInterval = .seconds(20)
        configuration.leaseDuration = .seconds(120)
        configuration.pollInterval = .milliseconds(200)
        configuration.resultTimeout = .seconds(50)
        return configuration
    }

    /// Runs `body` with a running store in a fresh schema, then closes it and drops both schemas.
    static func withStore<Result: Sendable>(
        adjusting adjust: (inout PostgresEventStore.Configuration) -> Void = { _ in },
        _ body: (PostgresEventStore) async throws -> Result
    ) async throws -> Result {
        var configuration = try configuration()
        adjust(&configuration)
        let store = try PostgresEventStore(configuration: configuration)
        let result: Result
        do {
            result = try await withThrowingTaskGroup(of: Void.self) { group in
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
        } catch {
            try? await drop(configuration)
            throw error
        }
        try await drop(configuration)
        return result
    }

    /// Runs `sql` on a connection of its own, after the statements of `setup` on the same connection; returns its
    /// first column's values as text.
    static func query(
        _ sql: String, configuration: PostgresEventStore.Configuration, after setup: [String] = []
    ) async throws -> [String?] {
        let connection = try await PostgresConnection.connect(
            configuration: PostgresConnection.Configuration(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable),
            id: 1, logger: Logger(label: "whizbang.cluster.tests"))
        do {
            for statement in setup {
                _ = try await connection.query(
                    PostgresQuery(unsafeSQL: statement), logger: Logger(label: "whizbang.cluster.tests"))
            }
            var values: [String?] = []
            for try await row in try await connection.query(
                PostgresQuery(unsafeSQL: sql), logger: Logger(label: "whizbang.cluster.tests"))
            {
                values.append(try row.decode(String?.self))
            }
            try await connection.close()
            return values
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static func drop(_ configuration: PostgresEventStore.Configuration) async throws {
        _ = try await query(
            "DROP SCHEMA IF EXISTS \"\(configuration.schema)_cluster\" CASCADE", configuration: configuration)
        _ = try await query("DROP SCHEMA IF EXISTS \"\(configuration.schema)\" CASCADE", configuration: configuration)
    }

    /// A job's checkpoint in the cluster's `jobs` table, as text; `nil` when the job has no row.
    static func jobCheckpoint(_ job: String, store: PostgresEventStore) async throws -> String? {
        try await query(
            "SELECT checkpoint::text FROM \"\(store.configuration.schema)_cluster\".jobs WHERE name = '\(job)'",
            configuration: store.configuration
        ).first ?? nil
    }
}
