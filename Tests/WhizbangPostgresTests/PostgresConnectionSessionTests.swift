import Foundation
import Logging
import PostgresNIO
import Testing
import WhizbangPostgres

/// What a caller's body leaves on a pooled connection of ``PostgresEventStore/withConnection(_:)`` or
/// ``PostgresEventStore/withTransaction(_:)`` does not outlive the call: the store's own statements that later run
/// on the same connection use the store's tables, in transactions of their own.
///
/// A body's `SET search_path` once stayed on the pooled connection, and the store's unqualified writes that followed
/// went into the application's table of the same name; a transaction the body left open took the store's writes in,
/// uncommitted; and a temporary table of the same name hid the store's.
@Suite(
    "PostgresEventStore connections after a caller's body",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresConnectionSessionTests {
    /// A store whose pool has two connections: the listener holds one, so every call uses the other.
    static func configuration() throws -> PostgresEventStore.Configuration {
        var configuration = try PostgresTestServer.configuration()
        configuration.maximumConnections = 2
        return configuration
    }

    /// The number of rows of `table`, counted on a connection of the test's own.
    static func count(_ table: String, _ configuration: PostgresEventStore.Configuration) async throws -> Int64? {
        let connection = try await PostgresTestServer.connect(configuration, id: 7)
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"), logger: Logger(label: "session")
        ).collect()
        try await connection.close()
        return try rows.first?.decode(Int64.self)
    }

    /// Saves four checkpoints through the store, then expects them in the store's table and `elsewhere` empty.
    static func expectCheckpointsInTheStore(
        _ store: PostgresEventStore, _ configuration: PostgresEventStore.Configuration, elsewhere: String? = nil
    ) async throws {
        for round in 1...4 {
            try await store.saveCheckpoint(UInt64(round), for: "consumer-\(round)")
        }
        if let elsewhere {
            let there = try await Self.count(elsewhere, configuration)
            #expect(there == 0, "the store wrote \(there ?? -1) checkpoint(s) into \(elsewhere)")
        }
        #expect(try await Self.count("\"\(configuration.schema)\".checkpoints", configuration) == 4)
        #expect(try await store.checkpoint(for: "consumer-4") == 4)
    }

    @Test("a search_path set in withConnection does not send the store's later writes into the user's tables")
    func aSearchPathSetByACallerDoesNotRedirectTheStore() async throws {
        let configuration = try Self.configuration()
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
            try await Self.expectCheckpointsInTheStore(store, configuration, elsewhere: "\(users).checkpoints")
        }
        try await PostgresTestServer.execute("DROP SCHEMA IF EXISTS \(users) CASCADE", configuration: configuration)
    }

    @Test("a search_path set in withTransaction does not outlive the transaction")
    func aSearchPathSetInATransactionDoesNotRedirectTheStore() async throws {
        let configuration = try Self.configuration()
        let users = configuration.schema + "_app"
        try await PostgresTestServer.execute("CREATE SCHEMA \(users)", configuration: configuration)
        try await PostgresTestServer.execute(
            "CREATE TABLE \(users).checkpoints (consumer text PRIMARY KEY, position bigint NOT NULL)",
            configuration: configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            // A plain SET (not SET LOCAL) in a transaction stays with the session once the transaction commits.
            try await store.withTransaction { transaction in
                _ = try await transaction.connection.query(
                    PostgresQuery(unsafeSQL: "SET search_path TO \(users)"), logger: transaction.logger)
            }
            try await Self.expectCheckpointsInTheStore(store, configuration, elsewhere: "\(users).checkpoints")
        }
        try await PostgresTestServer.execute("DROP SCHEMA IF EXISTS \(users) CASCADE", configuration: configuration)
    }

    @Test("a transaction left open in withConnection is rolled back, and the store's later writes commit")
    func aTransactionLeftOpenByACallerIsRolledBack() async throws {
        let configuration = try Self.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            try await store.withConnection { connection, logger in
                try await connection.query("BEGIN", logger: logger)
                try await connection.query(
                    "INSERT INTO checkpoints (consumer, position) VALUES ('left-open', 1)", logger: logger)
            }
            try await Self.expectCheckpointsInTheStore(store, configuration)
            #expect(try await store.checkpoint(for: "left-open") == nil)
        }
    }

    @Test("a temporary table made in withConnection does not hide the store's table of the same name")
    func aTemporaryTableDoesNotHideTheStoresTable() async throws {
        let configuration = try Self.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            try await store.withConnection { connection, logger in
                _ = try await connection.query(
                    "CREATE TEMPORARY TABLE checkpoints (consumer text PRIMARY KEY, position bigint NOT NULL)",
                    logger: logger)
            }
            try await Self.expectCheckpointsInTheStore(store, configuration)
        }
    }

    @Test("a role set in withConnection does not outlive the call: the store's later writes run as its own user")
    func aRoleSetByACallerIsReset() async throws {
        let configuration = try Self.configuration()
        let nobody = configuration.schema + "_nobody"
        try await PostgresTestServer.execute("CREATE ROLE \(nobody) NOLOGIN", configuration: configuration)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            try await store.withConnection { connection, logger in
                try await connection.run(PostgresQuery(unsafeSQL: "SET ROLE \(nobody)"), logger: logger)
            }
            // As the role, the store could not write its own tables (permission denied).
            try await Self.expectCheckpointsInTheStore(store, configuration)
        }
        try await PostgresTestServer.execute("DROP ROLE \(nobody)", configuration: configuration)
    }

    @Test("a session advisory lock taken in withConnection is released when the call ends")
    func aSessionLockTakenByACallerIsReleased() async throws {
        let configuration = try Self.configuration()
        let key = Int64.random(in: 1...Int64.max)
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            try await store.withConnection { connection, logger in
                try await connection.run(PostgresQuery(unsafeSQL: "SELECT pg_advisory_lock(\(key))"), logger: logger)
            }
            // Another session takes the same lock at once: the pooled connection no longer holds it.
            let other = try await PostgresTestServer.connect(configuration, id: 8)
            let rows = try await other.rows(
                PostgresQuery(unsafeSQL: "SELECT pg_try_advisory_lock(\(key))"), decoding: Bool.self,
                logger: Logger(label: "session"))
            try await other.close()
            #expect(rows == [true], "the pooled connection still held the caller's advisory lock")
        }
    }

    /// A statement of the application's, prepared by PostgresNIO on the connection it runs on.
    struct CountCheckpoints: PostgresPreparedStatement {
        static let sql = "SELECT count(*)::bigint FROM checkpoints"
        typealias Row = Int64

        func makeBindings() throws -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    @Test("a statement PostgresNIO prepared in one withConnection body runs again in the next bodies")
    func aPreparedStatementOfACallerRunsAgain() async throws {
        let configuration = try Self.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            // PostgresNIO prepares the statement on a connection once and then only runs it there, so the later
            // rounds run it on a connection where an earlier round prepared it.
            for round in 1...4 {
                let count = try await store.withConnection { connection, logger in
                    var count: Int64 = -1
                    for try await value in try await connection.execute(CountCheckpoints(), logger: logger) {
                        count = value
                    }
                    return count
                }
                #expect(count == 0, "round \(round)")
            }
        }
    }
}
