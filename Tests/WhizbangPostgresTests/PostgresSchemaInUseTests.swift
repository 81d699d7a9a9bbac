import Foundation
import Testing
import Whizbang
import WhizbangPostgres

/// A store that runs on a schema holds it: its tables are not dropped or replaced under it. Before, `dropStoreTables`
/// dropped them while a store (in this process or another) was appending, which then failed on missing tables; and a
/// restore could replace only an empty schema, so a caller starting over dropped and created in two transactions.
@Suite(
    "PostgreSQL schema in use, and a restore that replaces a marked store",
    .enabled(if: PostgresTestServer.isEnabled, "set WHIZBANG_POSTGRES_URL to a PostgreSQL server to run these tests"),
    .timeLimit(.minutes(5))
)
struct PostgresSchemaInUseTests {
    static let mark = "tests.mark"

    @Test("while a store runs, dropStoreTables and a replacing restore refuse and change nothing; once it closed, both work")
    func aRunningStoreHoldsItsSchema() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { running in
            try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { other in
                try await running.saveCheckpoint(0, for: Self.mark)
                // An append by the other store reaches this one's waiter: its listening connection, which holds
                // the schema, is connected.
                let head = try await running.headPosition()
                _ = try await other.append(makeEvents(1), to: "account-1", expectedVersion: .noStream)
                try await running.waitForEvents(after: head)
                #expect(try await PostgresEventStore.inspectSchema(configuration: configuration).runningStores >= 1)

                let dropped = await #expect(throws: EventStoreError.self) {
                    try await PostgresEventStore.dropStoreTables(configuration: configuration)
                }
                #expect(dropped?.code == .invalidArgument)
                #expect(dropped?.message.contains("a store runs on schema") == true, "\(String(describing: dropped))")
                let replaced = await #expect(throws: EventStoreError.self) {
                    try await PostgresEventStore.restore(
                        [], configuration: configuration, replacingStoreMarkedBy: Self.mark)
                }
                #expect(replaced?.code == .invalidArgument)
                #expect(replaced?.message.contains("a store runs on schema") == true, "\(String(describing: replaced))")
                // Both stores go on as before.
                _ = try await running.append(makeEvents(1), to: "account-1", expectedVersion: .exact(1))
                #expect(try await other.headPosition() == 2)
            }
        }
        let found = try await PostgresEventStore.inspectSchema(configuration: configuration)
        #expect(found.holdsStore)
        #expect(found.runningStores == 0)
        try await PostgresEventStore.restore([], checkpoints: [Self.mark: 7], configuration: configuration,
            replacingStoreMarkedBy: Self.mark)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            #expect(try await store.headPosition() == 0)
            #expect(try await store.checkpoint(for: Self.mark) == 7)
        }
        try await PostgresEventStore.dropStoreTables(configuration: configuration)
        #expect(try await PostgresEventStore.installedSchemaVersion(configuration: configuration) == nil)
    }

    @Test("a restore replaces only a store with the mark, and nothing beside it: otherwise it refuses, changing nothing")
    func aRestoreReplacesOnlyAMarkedStore() async throws {
        let configuration = try PostgresTestServer.configuration()
        defer { Task { try? await PostgresTestServer.dropSchema(configuration) } }
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            _ = try await store.append(makeEvents(2), to: "account-1", expectedVersion: .noStream)
        }
        func refused(marker: String?) async throws -> EventStoreError? {
            await #expect(throws: EventStoreError.self) {
                try await PostgresEventStore.restore(
                    [], checkpoints: [Self.mark: 0], configuration: configuration, replacingStoreMarkedBy: marker)
            }
        }
        // No mark: neither without a marker nor with one.
        #expect(try await refused(marker: nil)?.code == .invalidArgument)
        let unmarked = try await refused(marker: Self.mark)
        #expect(unmarked?.code == .invalidArgument)
        #expect(unmarked?.message.contains("without the mark '\(Self.mark)'") == true, "\(String(describing: unmarked))")
        // Marked, but with someone's table beside it.
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            try await store.saveCheckpoint(3, for: Self.mark)
        }
        try await PostgresTestServer.execute(
            "CREATE TABLE \"\(configuration.schema)\".invoices (id int)", configuration: configuration)
        let beside = try await refused(marker: Self.mark)
        #expect(beside?.message.contains("invoices") == true, "\(String(describing: beside))")
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            #expect(try await store.headPosition() == 2)
            #expect(try await store.checkpoint(for: Self.mark) == 3)
        }
        // Marked and alone: replaced, in one transaction.
        try await PostgresTestServer.execute(
            "DROP TABLE \"\(configuration.schema)\".invoices", configuration: configuration)
        try await PostgresEventStore.restore(
            [], checkpoints: [Self.mark: 0], configuration: configuration, replacingStoreMarkedBy: Self.mark)
        try await PostgresTestServer.withRunningStore(try PostgresEventStore(configuration: configuration)) { store async throws in
            #expect(try await store.headPosition() == 0)
            #expect(try await store.checkpoint(for: Self.mark) == 0)
        }
    }
}
