import Testing
import WhizbangPostgres

/// The server's SQLSTATE and message reach the caller as the cause of an ``EventStoreError``, without the
/// statement's text or values.
@Suite(
    "PostgreSQL server errors as causes",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresServerErrorTests {
    @Test func aPermissionFailureKeepsTheServersSQLStateAsTheCause() async throws {
        let administrator = try PostgresTestServer.configuration()
        let role = try await PostgresTestRole.create(administrator: administrator)
        let outcome: Result<EventStoreError?, any Error>
        do {
            // The owner creates the store; the role may read its tables but not write them.
            try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: administrator)) {
                _ = try await $0.append(makeEvents(1), to: "s", expectedVersion: .noStream)
            }
            let schema = "\"\(administrator.schema)\""
            try await role.execute("GRANT USAGE ON SCHEMA \(schema) TO \(role.name)")
            try await role.execute("GRANT SELECT ON ALL TABLES IN SCHEMA \(schema) TO \(role.name)")
            let store = try PostgresEventStore(configuration: role.configuration)
            outcome = .success(
                try await PostgresTestServer.withRunningStore(store) { store throws -> EventStoreError? in
                    let head = try await store.headPosition()
                    #expect(head == 1)
                    return await expectError(.readOnly) {
                        _ = try await store.append(makeEvents(1, type: "SecretType"), to: "s", expectedVersion: .any)
                    }
                })
        } catch {
            outcome = .failure(error)
        }
        try await role.drop()
        let error = try outcome.get()
        let cause = try #require(error?.underlyingError as? PostgresServerError, "\(String(describing: error))")
        #expect(cause.sqlState == "42501")
        #expect(cause.severity == "ERROR")
        #expect(cause.message.contains("permission denied"), "\(cause)")
        #expect(cause.description == "PostgreSQL error 42501: \(cause.message)")
        // Neither the statement nor what it carried.
        for text in [String(describing: cause), String(reflecting: cause), error?.message ?? ""] {
            for secret in ["SELECT", "INSERT", "SecretType", "amount", "role-password"] {
                #expect(!text.contains(secret), "\(text)")
            }
        }
    }
}
