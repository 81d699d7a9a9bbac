import Foundation
import WhizbangPostgres

/// A login role of its own on the test server, not a superuser, that may create schemas in the test database: a
/// test can take privileges from it or keep it from connecting without touching the other tests' stores.
struct PostgresTestRole {
    let name: String
    let password = "role-password"
    /// The configuration of the server's owner, which created the role.
    let administrator: PostgresEventStore.Configuration

    /// Creates the role; with `mayCreateSchemas` false it is not given `CREATE` on the database.
    static func create(administrator: PostgresEventStore.Configuration, mayCreateSchemas: Bool = true) async throws
        -> PostgresTestRole
    {
        let role = PostgresTestRole(name: "whizbang_" + administrator.schema, administrator: administrator)
        try await PostgresTestServer.execute(
            "CREATE ROLE \(role.name) LOGIN PASSWORD '\(role.password)'", configuration: administrator)
        if mayCreateSchemas {
            try await role.executeAlone("GRANT CREATE ON DATABASE \"\(role.database)\" TO \(role.name)")
        }
        return role
    }

    private var database: String { administrator.database ?? administrator.username }

    /// The administrator's configuration, logging in as this role.
    var configuration: PostgresEventStore.Configuration {
        var configuration = administrator
        configuration.username = name
        configuration.password = password
        return configuration
    }

    /// Runs SQL as the administrator.
    func execute(_ sql: String) async throws {
        try await PostgresTestServer.execute(sql, configuration: administrator)
    }

    /// Runs SQL as the administrator while no other test role's does: the server fails two concurrent changes of
    /// one database's privileges with "tuple concurrently updated".
    private func executeAlone(_ sql: String) async throws {
        let quoted = sql.replacingOccurrences(of: "'", with: "''")
        try await execute("DO $$ BEGIN PERFORM pg_advisory_xact_lock(7391); EXECUTE '\(quoted)'; END $$")
    }

    /// Drops the store's schema, then the role and what it was granted.
    func drop() async throws {
        try await PostgresTestServer.dropSchema(administrator)
        try await execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(name)'")
        try await executeAlone("DROP OWNED BY \(name)")
        try await execute("DROP ROLE \(name)")
    }
}
