import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// An append is acknowledged only once its transaction has committed.
///
/// A statement run on its own commits at the end of the exchange, after the server has already queued the statement's
/// rows and its completion; PostgresNIO hands those over at the completion, before the commit. Should the commit then
/// fail — a deferred constraint, or a server stopped (immediate shutdown, the crash of another backend), which sends
/// what it had queued before it exits — the rows reported an append that was never made. A deferred constraint
/// trigger here makes the commit fail every time. The same holds for the store's other writes, a checkpoint and a
/// snapshot: each is reported saved only once its commit has answered.
@Suite(
    "PostgresEventStore writes whose commit fails",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresCommitFailureTests {
    @Test("an append whose commit fails is not acknowledged, and nothing of it is stored")
    func anAppendWhoseCommitFailsFails() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            _ = try await store.append(makeEvents(1), to: "before", expectedVersion: .noStream)
            let schema = "\"\(configuration.schema)\""
            try await PostgresTestServer.execute(
                """
                CREATE FUNCTION \(schema).refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.event_type = 'RefusedAtCommit' THEN RAISE EXCEPTION 'refused at commit'; END IF;
                    RETURN NULL;
                END $$
                """, configuration: configuration)
            try await PostgresTestServer.execute(
                """
                CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON \(schema).events
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_at_commit();
                """, configuration: configuration)
            let refused = [EventData(eventType: "RefusedAtCommit", data: Data("{}".utf8))]
            await #expect(throws: (any Error).self) {
                _ = try await store.append(refused, to: "refused", expectedVersion: .noStream)
            }
            #expect(try await store.streamVersion(of: "refused") == 0)
            #expect(try await store.headPosition() == 1)
            // The store goes on: the next append commits and takes the next position.
            let next = try await store.append(makeEvents(1), to: "after", expectedVersion: .noStream)
            #expect(next.positions == 2..<3)
        }
    }

    @Test("a checkpoint whose commit fails is not reported saved, and the one saved before stays")
    func aCheckpointWhoseCommitFailsFails() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            try await store.saveCheckpoint(5, for: "projector")
            try await Self.refuseAtCommit(table: "checkpoints", when: "NEW.position = 7", configuration: configuration)
            await #expect(throws: (any Error).self) { try await store.saveCheckpoint(7, for: "projector") }
            #expect(try await store.checkpoint(for: "projector") == 5)
            try await store.saveCheckpoint(8, for: "projector")
            #expect(try await store.checkpoint(for: "projector") == 8)
        }
    }

    @Test("a snapshot whose commit fails is not reported saved, and the one saved before stays")
    func aSnapshotWhoseCommitFailsFails() async throws {
        let configuration = try PostgresTestServer.configuration()
        try await PostgresTestServer.withStore(configuration: configuration) { store in
            let first = Snapshot(streamID: "account", streamVersion: 3, stateType: "Account", data: Data("{\"v\":3}".utf8))
            try await store.saveSnapshot(first)
            try await Self.refuseAtCommit(table: "snapshots", when: "NEW.version = 6", configuration: configuration)
            await #expect(throws: (any Error).self) {
                try await store.saveSnapshot(
                    Snapshot(streamID: "account", streamVersion: 6, stateType: "Account", data: Data("{\"v\":6}".utf8)))
            }
            #expect(try await store.latestSnapshot(for: "account")?.streamVersion == 3)
            try await store.saveSnapshot(
                Snapshot(streamID: "account", streamVersion: 9, stateType: "Account", data: Data("{\"v\":9}".utf8)))
            #expect(try await store.latestSnapshot(for: "account")?.streamVersion == 9)
        }
    }

    /// A deferred constraint trigger on `table` of the store's schema that fails the commit of a row matching `when`.
    private static func refuseAtCommit(
        table: String, when condition: String, configuration: PostgresEventStore.Configuration
    ) async throws {
        let schema = "\"\(configuration.schema)\""
        try await PostgresTestServer.execute(
            """
            CREATE FUNCTION \(schema).refuse_\(table)_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF \(condition) THEN RAISE EXCEPTION 'refused at commit'; END IF;
                RETURN NULL;
            END $$
            """, configuration: configuration)
        try await PostgresTestServer.execute(
            """
            CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT OR UPDATE ON \(schema).\(table)
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \(schema).refuse_\(table)_at_commit();
            """, configuration: configuration)
    }
}
