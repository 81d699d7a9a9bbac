import Foundation
import Logging
import PostgresNIO
import Testing
import WhizbangPostgres

/// What a caller's body leaves on a pooled connection of ``PostgresEventStore/withConnection(_:)``: the store's own
/// statements must not run in the caller's session state afterwards.
@Suite(
    "PostgresEventStore pooled connection probes",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(1))
)
struct PostgresPooledConnectionProbeTests {
    @Test("a search_path set in withConnection does not send the store's later writes into the user's tables")
    func aSearchPathSetByACallerDoesNotRedirectTheStore() async throws {
        var configuration = try PostgresTestServer.configuration()
        configuration.maximumConnections = 2
        let users = configuration.schema + "_app"
        // The application's own schema, with a table of the same name as one of the store's.
        try await PostgresTestServer.execute("CREATE SCHEMA \(users)", configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE TABLE \(users).checkpoints (consumer text PRIMARY KEY, position bigint NOT NULL)",
            configuration: configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            // The application queries its own schema on the store's connection, as the documentation allows.
            try await store.withConnection { connection, logger in
                try await connection.query(PostgresQuery(unsafeSQL: "SET search_path TO \(users)"), logger: logger)
                _ = try await connection.query("SELECT count(*) FROM checkpoints", logger: logger).collect()
            }
            for round in 1...4 {
                try await store.saveCheckpoint(UInt64(round), for: "probe-\(round)")
            }
            let connection = try await PostgresTestServer.connect(configuration, id: 7)
            let logger = Logger(label: "probe")
            let inUsers = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(users).checkpoints"), logger: logger
            ).collect().first?.decode(Int64.self)
            let inStore = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(configuration.schema)\".checkpoints"), logger: logger
            ).collect().first?.decode(Int64.self)
            try await connection.close()
            #expect(inUsers == 0, "the store wrote \(inUsers ?? -1) checkpoint(s) into the application's table")
            #expect(inStore == 4)
        }
        try await PostgresTestServer.execute("DROP SCHEMA IF EXISTS \(users) CASCADE", configuration: configuration)
    }
}
