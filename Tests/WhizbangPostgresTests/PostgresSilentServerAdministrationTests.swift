import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// The calls that work on a connection of their own — inspecting, dropping, restoring, the version check and a
/// store's start — against a server that accepts the connection and then stops answering (a host that hangs, a
/// path that drops packets). The server's own timeouts never fire then; before, each of these waited for ever.
@Suite(
    "PostgreSQL administration calls on a server that stops answering",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresSilentServerAdministrationTests {
    @Test("each fails with unavailable soon after its request deadline, and changes nothing")
    func callsOnASilentServerFail() async throws {
        let direct = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(direct) } }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: direct)) { store async throws in
            _ = try await store.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
        }
        let proxy = try await RowCuttingProxy.start(upstreamHost: direct.host, upstreamPort: direct.port)
        proxy.silenceAfterStartup()
        var proxied = direct
        proxied.host = "127.0.0.1"
        proxied.port = proxy.port
        proxied.requestTimeout = .seconds(1)
        let silent = proxied
        let calls: [(String, @Sendable () async throws -> Void)] = [
            ("inspectSchema", { _ = try await PostgresEventStore.inspectSchema(configuration: silent) }),
            ("installedSchemaVersion", { _ = try await PostgresEventStore.installedSchemaVersion(configuration: silent) }),
            ("dropStoreTables", { try await PostgresEventStore.dropStoreTables(configuration: silent) }),
            ("restore", { try await PostgresEventStore.restore([], configuration: silent) }),
            ("run", { try await PostgresEventStore(configuration: silent).run() }),
        ]
        for (name, call) in calls {
            let started = ContinuousClock.now
            let error = await #expect(throws: EventStoreError.self, "\(name)") { try await call() }
            #expect(error?.code == .unavailable, "\(name): \(String(describing: error))")
            // The client's limit is the request deadline and a second; the rest is margin for a busy machine.
            #expect(ContinuousClock.now - started < .seconds(30), "\(name)")
        }
        try await proxy.stop()
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: direct)) { store async throws in
            #expect(try await store.headPosition() == 1)
        }
    }
}
